// Sign-in form for the customer portal. The password never leaves this component except in
// the body of the login request; the access token is kept in memory, not in localStorage.
import { z } from "zod";
import { useState } from "react";
import { api } from "../lib/api";

const PASSWORD_MIN_LENGTH = 12;
const TOKEN_REFRESH_MARGIN_SECONDS = 60;

export const loginSchema = z.object({
  email: z.string().email("Enter a valid email address"),
  password: z.string().min(PASSWORD_MIN_LENGTH, `At least ${PASSWORD_MIN_LENGTH} characters`),
  rememberDevice: z.boolean().default(false),
});

type LoginForm = z.infer<typeof loginSchema>;

interface TokenResponse {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  token_type: "Bearer";
}

let accessToken: string | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;

export function authHeader(): Record<string, string> {
  return accessToken ? { Authorization: `Bearer ${accessToken}` } : {};
}

function scheduleRefresh(response: TokenResponse) {
  clearTimeout(refreshTimer);
  const delay = Math.max(0, response.expires_in - TOKEN_REFRESH_MARGIN_SECONDS) * 1000;
  refreshTimer = setTimeout(async () => {
    const next = await api.post<TokenResponse>("/auth/refresh", {
      refresh_token: response.refresh_token,
    });
    accessToken = next.access_token;
    scheduleRefresh(next);
  }, delay);
}

export function LoginPage() {
  const [form, setForm] = useState<LoginForm>({ email: "", password: "", rememberDevice: false });
  const [error, setError] = useState<string | null>(null);
  const [showPassword, setShowPassword] = useState(false);

  async function onSubmit(event: React.FormEvent) {
    event.preventDefault();
    const parsed = loginSchema.safeParse(form);
    if (!parsed.success) {
      setError(parsed.error.issues[0]?.message ?? "Check the form");
      return;
    }
    try {
      const response = await api.post<TokenResponse>("/auth/login", parsed.data);
      accessToken = response.access_token;
      scheduleRefresh(response);
      setForm({ ...form, password: "" });
      window.location.assign("/dashboard");
    } catch (e) {
      setError("Wrong email or password");
    }
  }

  return (
    <form onSubmit={onSubmit} aria-describedby="login-error">
      <label htmlFor="email">Email</label>
      <input id="email" type="email" autoComplete="username" value={form.email}
             onChange={(e) => setForm({ ...form, email: e.target.value })} />
      <label htmlFor="password">Password</label>
      <input id="password" type={showPassword ? "text" : "password"}
             autoComplete="current-password" value={form.password}
             onChange={(e) => setForm({ ...form, password: e.target.value })} />
      <button type="button" onClick={() => setShowPassword(!showPassword)}>
        {showPassword ? "Hide password" : "Show password"}
      </button>
      <a href="/forgot-password">Forgot your password?</a>
      {error && <p id="login-error" role="alert">{error}</p>}
      <button type="submit">Sign in</button>
    </form>
  );
}

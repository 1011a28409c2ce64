"""An independent numpy reference of the Nemotron-H forward pass, for golden logits.

Written from docs/nemotron-h-spec.md §2, not from the C++ engine, and computed differently
where it matters: the Mamba-2 mixer runs the chunked SSD form over the whole prompt (intra-chunk
diagonal blocks, chunk states, inter-chunk recurrence), which the engine's reference computes
token by token. A prompt longer than two chunks checks the hand-off between chunks.

    python nemotron_h.py MODEL_DIR IDS...        # prints the last token's top-5 logits

Reads config.json (Infinity allowed) and the safetensors (BF16 / F16 / F32) with numpy alone.
"""
import json
import os
import re
import struct
import sys

import numpy as np


def load_config(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        text = re.sub(r"\bInfinity\b", "1e308", f.read())
    c = json.loads(text)
    pattern = c["hybrid_override_pattern"]
    c["layers"] = list(pattern)
    return c


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = body[b:end]
        if e["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            a = u.view(np.float32)
        elif e["dtype"] == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif e["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        else:
            raise ValueError(f"{name}: dtype {e['dtype']}")
        out[name] = a.reshape(e["shape"]).astype(np.float64)
    return out


def load_weights(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    w = {}
    for name in files:
        w.update(read_safetensors(os.path.join(model_dir, name)))
    return w


def rms_norm(x, weight, eps):
    return weight * (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps))


def silu(x):
    return x / (1.0 + np.exp(-x))


def softplus(x):
    return np.where(x <= 20.0, np.log1p(np.exp(np.minimum(x, 20.0))), x)


def mamba(c, w, p, x):
    """x: [T, hidden] -> [T, hidden]; the chunked SSD form, from a zero state."""
    T = x.shape[0]
    H, P, N, G, K = (c["mamba_num_heads"], c["mamba_head_dim"], c["ssm_state_size"],
                     c["n_groups"], c["conv_kernel"])
    d_inner = H * P
    conv_dim = d_inner + 2 * G * N
    zxbcdt = x @ w[p + "in_proj.weight"].T
    z, xbc, dt = (zxbcdt[:, :d_inner], zxbcdt[:, d_inner:d_inner + conv_dim],
                  zxbcdt[:, d_inner + conv_dim:])
    cw = w[p + "conv1d.weight"].reshape(conv_dim, K)
    padded = np.concatenate([np.zeros((K - 1, conv_dim)), xbc], axis=0)
    conv = sum(cw[:, k] * padded[k:k + T] for k in range(K))
    if c.get("use_conv_bias", True):
        conv = conv + w[p + "conv1d.bias"]
    conv = silu(conv)
    xs = conv[:, :d_inner].reshape(T, H, P)
    B = conv[:, d_inner:d_inner + G * N].reshape(T, G, N)
    C = conv[:, d_inner + G * N:].reshape(T, G, N)
    heads_per_group = H // G
    Bh = np.repeat(B, heads_per_group, axis=1)  # [T, H, N]: head h reads group h // (H / G)
    Ch = np.repeat(C, heads_per_group, axis=1)
    lo, hi = c.get("time_step_limit", [0.0, 1e308])
    dt = np.clip(softplus(dt + w[p + "dt_bias"]), lo, hi)  # [T, H]
    A = -np.exp(w[p + "A_log"])
    a = dt * A  # [T, H]
    L = c["chunk_size"]
    state = np.zeros((H, P, N))
    y = np.zeros((T, H, P))
    for start in range(0, T, L):
        s = slice(start, min(start + L, T))
        ac, xc, Bc, Cc, dtc = a[s], xs[s], Bh[s], Ch[s], dt[s]
        lam = np.cumsum(ac, axis=0)  # [l, H]
        l = lam.shape[0]
        # Intra-chunk: Y[t] = sum_{s<=t} exp(lam_t - lam_s) (C_t . B_s) dt_s x_s
        decay = np.exp(lam[:, None, :] - lam[None, :, :])  # [t, s, H]
        decay = decay * np.tril(np.ones((l, l)))[:, :, None]
        cb = np.einsum("thn,shn->tsh", Cc, Bc)
        y[s] += np.einsum("tsh,sh,shp->thp", decay * cb, dtc, xc)
        # From the state before the chunk: exp(lam_t) C_t . H_prev
        y[s] += np.einsum("th,thn,hpn->thp", np.exp(lam), Cc, state)
        # The state after the chunk.
        tail = np.exp(lam[-1][None, :] - lam)  # [s, H]
        state = (np.exp(lam[-1])[:, None, None] * state +
                 np.einsum("sh,sh,shp,shn->hpn", tail, dtc, xc, Bc))
    y = y + w[p + "D"][None, :, None] * xs
    u = y.reshape(T, d_inner) * silu(z)
    group = d_inner // G
    u = u.reshape(T, G, group)
    u = u / np.sqrt(np.mean(u * u, axis=-1, keepdims=True) + c["layer_norm_epsilon"])
    u = u.reshape(T, d_inner) * w[p + "norm.weight"]
    return u @ w[p + "out_proj.weight"].T


def attention(c, w, p, x):
    T = x.shape[0]
    nh, nkv, hd = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    q = (x @ w[p + "q_proj.weight"].T).reshape(T, nh, hd)
    k = (x @ w[p + "k_proj.weight"].T).reshape(T, nkv, hd)
    v = (x @ w[p + "v_proj.weight"].T).reshape(T, nkv, hd)
    k = np.repeat(k, nh // nkv, axis=1)
    v = np.repeat(v, nh // nkv, axis=1)
    scores = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd)
    scores = scores + np.triu(np.full((T, T), -np.inf), 1)[None]  # no positional encoding
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs = scores / scores.sum(axis=-1, keepdims=True)
    o = np.einsum("hts,shd->thd", probs, v).reshape(T, nh * hd)
    return o @ w[p + "o_proj.weight"].T


def ffn(up, down, x):
    return np.square(np.maximum(x @ up.T, 0.0)) @ down.T


def moe(c, w, p, x):
    E, k = c["n_routed_experts"], c["num_experts_per_tok"]
    scores = 1.0 / (1.0 + np.exp(-(x @ w[p + "gate.weight"].T)))  # [T, E]
    select = scores + w[p + "gate.e_score_correction_bias"]
    out = np.zeros_like(x)
    fused = (p + "experts.up_proj") in w
    for t in range(x.shape[0]):
        idx = np.argsort(-select[t], kind="stable")[:k]
        weights = scores[t, idx]
        if c.get("norm_topk_prob", True):
            weights = weights / (weights.sum() + 1e-20)
        weights = weights * c.get("routed_scaling_factor", 1.0)
        for j, e in zip(range(k), idx):
            if fused:
                up, down = w[p + "experts.up_proj"][e], w[p + "experts.down_proj"][e]
            else:
                up, down = (w[f"{p}experts.{e}.up_proj.weight"],
                            w[f"{p}experts.{e}.down_proj.weight"])
            out[t] += weights[j] * ffn(up, down, x[t:t + 1])[0]
    if c.get("n_shared_experts", 0) > 0:
        out += ffn(w[p + "shared_experts.up_proj.weight"], w[p + "shared_experts.down_proj.weight"], x)
    return out


def residual_stream(model_dir, ids):
    """The residual stream h after each layer's residual add (before norm_f), and the final
    logits: (list of [len(ids), hidden] per layer, [len(ids), vocab])."""
    c = load_config(model_dir)
    w = load_weights(model_dir)
    prefix = "backbone." if any(n.startswith("backbone.") for n in w) else "model."
    emb = w.get(prefix + "embeddings.weight", w.get(prefix + "embedding.weight"))
    h = emb[np.asarray(ids)]
    eps = c["layer_norm_epsilon"]
    mixers = {"M": mamba, "*": attention, "E": moe,
              "-": lambda c, w, p, x: ffn(w[p + "up_proj.weight"], w[p + "down_proj.weight"], x)}
    after = []
    for i, kind in enumerate(c["layers"]):
        p = f"{prefix}layers.{i}."
        h = h + mixers[kind](c, w, p + "mixer.", rms_norm(h, w[p + "norm.weight"], eps))
        after.append(h)
    h = rms_norm(h, w[prefix + "norm_f.weight"], eps)
    head = emb if c.get("tie_word_embeddings") else w["lm_head.weight"]
    return after, h @ head.T


def forward(model_dir, ids):
    """Logits of every position: [len(ids), vocab]."""
    return residual_stream(model_dir, ids)[1]


def hidden_after(model_dir, ids, layer):
    """The residual stream after layer `layer` (0-based; after its residual add, before any
    later layer and norm_f) of every position: [len(ids), hidden]. What the engine adds into
    StepItem::hidden_sum for hidden_layer = layer (engine/backend.h)."""
    return residual_stream(model_dir, ids)[0][layer]


if __name__ == "__main__":
    logits = forward(sys.argv[1], [int(v) for v in sys.argv[2:]])
    last = logits[-1]
    top = np.argsort(-last)[:5]
    print(" ".join(f"{int(i)}:{last[i]:.6f}" for i in top))

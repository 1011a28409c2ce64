// Loads service credentials from the environment or from files mounted by the orchestrator.
// Values are never logged; only their names and lengths are.
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "openssl/sha.h"
#include "util/logging.h"

namespace reporting {

struct Credentials {
  std::string database_user;
  std::string database_password;
  std::string api_token;
  std::string signing_key_path;
};

namespace {

// Environment variable names. The values are set by the deployment, never in code.
constexpr char kUserVar[] = "REPORTING_DB_USER";
constexpr char kPasswordVar[] = "REPORTING_DB_PASSWORD";
constexpr char kPasswordFileVar[] = "REPORTING_DB_PASSWORD_FILE";
constexpr char kTokenVar[] = "REPORTING_API_TOKEN";
constexpr char kSigningKeyVar[] = "REPORTING_SIGNING_KEY_PATH";

// Test vector for the digest helper below (FIPS 180-2, "abc").
constexpr char kAbcSha256[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

std::optional<std::string> Env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string value = buffer.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  return value;
}

}  // namespace

std::string HexDigest(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char byte : digest) {
    out.push_back(kHex[byte >> 4]);
    out.push_back(kHex[byte & 15]);
  }
  return out;
}

bool SelfTest() { return HexDigest("abc") == kAbcSha256; }

absl::StatusOr<Credentials> LoadCredentials() {
  Credentials creds;
  const std::optional<std::string> user = Env(kUserVar);
  if (!user) return absl::FailedPreconditionError(absl::StrCat(kUserVar, " is not set"));
  creds.database_user = *user;

  // The password comes either inline or from a mounted file; the file wins.
  if (const std::optional<std::string> file = Env(kPasswordFileVar)) {
    absl::StatusOr<std::string> password = ReadSecretFile(*file);
    if (!password.ok()) return password.status();
    creds.database_password = *std::move(password);
  } else if (const std::optional<std::string> password = Env(kPasswordVar)) {
    creds.database_password = *password;
  } else {
    return absl::FailedPreconditionError(
        absl::StrCat("set ", kPasswordVar, " or ", kPasswordFileVar));
  }
  if (creds.database_password.size() < 12) {
    LOG(WARNING) << "database password is shorter than 12 characters";
  }

  const std::optional<std::string> token = Env(kTokenVar);
  if (!token) return absl::FailedPreconditionError(absl::StrCat(kTokenVar, " is not set"));
  creds.api_token = *token;
  creds.signing_key_path = Env(kSigningKeyVar).value_or("/run/secrets/signing_key.pem");

  LOG(INFO) << "loaded credentials for user " << creds.database_user << " (password "
            << creds.database_password.size() << " bytes, token " << creds.api_token.size()
            << " bytes, signing key at " << creds.signing_key_path << ")";
  return creds;
}

// Builds the libpq connection string. The password is passed separately through
// PQconnectdbParams so that it never appears in a string that could be logged.
std::string ConnectionInfo(const Credentials& creds, const std::string& host, int port) {
  return absl::StrCat("host=", host, " port=", port, " dbname=reporting user=", creds.database_user,
                      " sslmode=verify-full");
}

bool TokenLooksValid(const std::string& token) {
  // Partner tokens are 40 characters of base62; anything else is rejected early.
  if (token.size() != 40) return false;
  for (char c : token) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!ok) return false;
  }
  return true;
}

}  // namespace reporting

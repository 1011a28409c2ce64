// Ed25519 keys for signing audit checkpoints (OpenSSL EVP).
//
// Key files are PEM: the private key PKCS#8 ("PRIVATE KEY", written mode 0600), the public key
// SubjectPublicKeyInfo ("PUBLIC KEY"). `airlock audit keygen` writes both. A key's id is the
// first 8 bytes of SHA-256 of its raw 32-byte public key, as 16 lowercase hex digits:
// checkpoints name the id of the key that signed them, so keys can be rotated and a verifier
// given several public keys picks the right one.
//
// Thread-safety: AuditSigner and AuditKeyRing are immutable after construction (AddPublicKey*
// aside) and may be used from several threads at once.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace airlock::gateway {

class AuditSigner {
 public:
  static absl::StatusOr<AuditSigner> Generate();
  // INVALID_ARGUMENT naming the file when it cannot be read or is not an Ed25519 private key.
  static absl::StatusOr<AuditSigner> FromPrivateKeyFile(const std::string& path);
  static absl::StatusOr<AuditSigner> FromPrivateKeyPem(std::string_view pem,
                                                       const std::string& source);

  const std::string& key_id() const { return key_id_; }
  // 64-byte Ed25519 signature of `message`.
  std::string Sign(std::string_view message) const;
  std::string PrivateKeyPem() const;
  std::string PublicKeyPem() const;

 private:
  explicit AuditSigner(std::shared_ptr<EVP_PKEY> key);
  std::shared_ptr<EVP_PKEY> key_;
  std::string key_id_;
};

// Writes PREFIX.key (mode 0600, refused when it exists) and PREFIX.pub; returns the key id.
absl::StatusOr<std::string> WriteNewAuditKeyPair(const std::string& prefix);

// The public keys a verifier trusts, by key id.
class AuditKeyRing {
 public:
  // Adds the Ed25519 public key in a PEM file (a private key file is accepted too: its public
  // half is used). Returns the key id.
  absl::StatusOr<std::string> AddPublicKeyFile(const std::string& path);
  absl::StatusOr<std::string> AddPublicKeyPem(std::string_view pem, const std::string& source);

  bool empty() const { return keys_.empty(); }
  bool Has(std::string_view key_id) const { return keys_.count(std::string(key_id)) > 0; }
  // OK when `signature` is key_id's signature of `message`; NOT_FOUND when the key is not in
  // the ring; INVALID_ARGUMENT when the signature does not verify.
  absl::Status Verify(std::string_view key_id, std::string_view message,
                      std::string_view signature) const;

 private:
  std::map<std::string, std::shared_ptr<EVP_PKEY>> keys_;
};

}  // namespace airlock::gateway

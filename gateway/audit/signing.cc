#include "gateway/audit/signing.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gateway/audit/merkle.h"

namespace airlock::gateway {
namespace {

std::shared_ptr<EVP_PKEY> Own(EVP_PKEY* k) { return std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free); }

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

absl::StatusOr<std::string> ReadFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), " ", path, ": cannot read: ", std::strerror(errno)));
  }
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string KeyId(EVP_PKEY* key) {
  unsigned char raw[32];
  size_t len = sizeof(raw);
  if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1) return "";
  Sha256Hash h = Sha256(std::string_view(reinterpret_cast<const char*>(raw), len));
  return HashToHex(h).substr(0, 16);
}

std::string ToPem(EVP_PKEY* key, bool private_key) {
  BIO* bio = BIO_new(BIO_s_mem());
  int ok = private_key ? PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr)
                       : PEM_write_bio_PUBKEY(bio, key);
  std::string out;
  if (ok == 1) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    out.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  return out;
}

bool IsEd25519(EVP_PKEY* key) { return EVP_PKEY_get_id(key) == EVP_PKEY_ED25519; }

absl::Status WriteFileMode(const std::string& path, const std::string& data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": cannot create: ", std::strerror(errno)));
  }
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string err = std::strerror(errno);
      ::close(fd);
      return absl::InternalError(absl::StrCat(path, ": write: ", err));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return absl::InternalError(absl::StrCat(path, ": fsync/close: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

AuditSigner::AuditSigner(std::shared_ptr<EVP_PKEY> key)
    : key_(std::move(key)), key_id_(KeyId(key_.get())) {}

absl::StatusOr<AuditSigner> AuditSigner::Generate() {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
  EVP_PKEY* key = nullptr;
  bool ok = ctx != nullptr && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &key) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return absl::InternalError(absl::StrCat("Ed25519 key generation: ", OpenSslError()));
  return AuditSigner(Own(key));
}

absl::StatusOr<AuditSigner> AuditSigner::FromPrivateKeyFile(const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFile(path, "audit signing key");
  if (!pem.ok()) return pem.status();
  return FromPrivateKeyPem(*pem, path);
}

absl::StatusOr<AuditSigner> AuditSigner::FromPrivateKeyPem(std::string_view pem,
                                                           const std::string& source) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("audit signing key ", source,
                     ": not a PEM private key (create one with `airlock audit keygen`)"));
  }
  if (!IsEd25519(key)) {
    EVP_PKEY_free(key);
    return absl::InvalidArgumentError(
        absl::StrCat("audit signing key ", source, ": not an Ed25519 key"));
  }
  return AuditSigner(Own(key));
}

std::string AuditSigner::Sign(std::string_view message) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig(64, '\0');
  size_t len = sig.size();
  if (EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    ERR_clear_error();
    len = 0;
  }
  EVP_MD_CTX_free(ctx);
  sig.resize(len);
  return sig;
}

std::string AuditSigner::PrivateKeyPem() const { return ToPem(key_.get(), true); }
std::string AuditSigner::PublicKeyPem() const { return ToPem(key_.get(), false); }

absl::StatusOr<std::string> WriteNewAuditKeyPair(const std::string& prefix) {
  absl::StatusOr<AuditSigner> signer = AuditSigner::Generate();
  if (!signer.ok()) return signer.status();
  if (absl::Status s = WriteFileMode(prefix + ".key", signer->PrivateKeyPem(), 0600); !s.ok()) {
    return s;
  }
  if (absl::Status s = WriteFileMode(prefix + ".pub", signer->PublicKeyPem(), 0644); !s.ok()) {
    return s;
  }
  return signer->key_id();
}

absl::StatusOr<std::string> AuditKeyRing::AddPublicKeyFile(const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFile(path, "audit public key");
  if (!pem.ok()) return pem.status();
  return AddPublicKeyPem(*pem, path);
}

absl::StatusOr<std::string> AuditKeyRing::AddPublicKeyPem(std::string_view pem,
                                                          const std::string& source) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  if (key == nullptr) {
    ERR_clear_error();
    BIO_free(bio);
    bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  }
  BIO_free(bio);
  if (key == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("audit public key ", source, ": not a PEM public key"));
  }
  if (!IsEd25519(key)) {
    EVP_PKEY_free(key);
    return absl::InvalidArgumentError(
        absl::StrCat("audit public key ", source, ": not an Ed25519 key"));
  }
  std::string id = KeyId(key);
  // Keep only the public half, whatever the file held.
  unsigned char raw[32];
  size_t len = sizeof(raw);
  EVP_PKEY_get_raw_public_key(key, raw, &len);
  EVP_PKEY_free(key);
  EVP_PKEY* pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw, len);
  if (pub == nullptr) {
    return absl::InternalError(absl::StrCat("audit public key ", source, ": ", OpenSslError()));
  }
  keys_[id] = Own(pub);
  return id;
}

absl::Status AuditKeyRing::Verify(std::string_view key_id, std::string_view message,
                                  std::string_view signature) const {
  auto it = keys_.find(std::string(key_id));
  if (it == keys_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no public key with id ", std::string(key_id), " was given"));
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  int r = EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, it->second.get());
  if (r == 1) {
    r = EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                         signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                         message.size());
  }
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  if (r != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("signature does not verify with key ", std::string(key_id)));
  }
  return absl::OkStatus();
}

}  // namespace airlock::gateway

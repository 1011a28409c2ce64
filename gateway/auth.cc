#include "gateway/auth.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/auth_context.h"

namespace airlock::gateway {
namespace {

std::array<unsigned char, 32> Sha256(std::string_view bytes) {
  std::array<unsigned char, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out.data());
  return out;
}

std::string_view AsView(const std::array<unsigned char, 32>& a) {
  return std::string_view(reinterpret_cast<const char*>(a.data()), a.size());
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits a DN into normalized RDNs ("TYPE=value", TYPE uppercased, whitespace trimmed).
std::vector<std::string> SplitDn(std::string_view dn) {
  std::vector<std::string> out;
  std::string_view rest = dn;
  while (true) {
    size_t i = 0;
    bool escaped = false;
    for (; i < rest.size(); ++i) {
      if (escaped) {
        escaped = false;
      } else if (rest[i] == '\\') {
        escaped = true;
      } else if (rest[i] == ',') {
        break;
      }
    }
    std::string_view rdn = Trim(rest.substr(0, i));
    size_t eq = rdn.find('=');
    if (eq == std::string_view::npos) {
      out.emplace_back(rdn);
    } else {
      out.push_back(absl::AsciiStrToUpper(std::string(Trim(rdn.substr(0, eq)))) + "=" +
                    std::string(Trim(rdn.substr(eq + 1))));
    }
    if (i >= rest.size()) break;
    rest.remove_prefix(i + 1);
  }
  return out;
}

bool SanEquals(std::string_view configured, std::string_view presented) {
  // DNS names and e-mail domains are case-insensitive; URIs (SPIFFE IDs, ...) are not.
  if (configured.find("://") != std::string_view::npos) return configured == presented;
  return absl::EqualsIgnoreCase(absl::string_view(configured.data(), configured.size()),
                                absl::string_view(presented.data(), presented.size()));
}

void AddUnique(std::vector<std::string>* v, std::string s) {
  if (!s.empty() && std::find(v->begin(), v->end(), s) == v->end()) v->push_back(std::move(s));
}

absl::Status Unknown() { return absl::UnauthenticatedError("unknown API key"); }

}  // namespace

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string Sha256Hex(std::string_view bytes) {
  auto d = Sha256(bytes);
  std::string_view v = AsView(d);
  return absl::BytesToHexString(absl::string_view(v.data(), v.size()));
}

bool DistinguishedNamesEqual(std::string_view a, std::string_view b) {
  return SplitDn(a) == SplitDn(b);
}

bool PeerIdentityFromPem(std::string_view pem, PeerIdentity* out) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), pem.size()), &BIO_free);
  if (!bio) return false;
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  if (!cert) return false;
  if (X509_NAME* name = X509_get_subject_name(cert.get())) {
    std::unique_ptr<BIO, decltype(&BIO_free)> mem(BIO_new(BIO_s_mem()), &BIO_free);
    if (mem && X509_NAME_print_ex(mem.get(), name, 0, XN_FLAG_RFC2253) >= 0) {
      char* data = nullptr;
      long n = BIO_get_mem_data(mem.get(), &data);
      if (n > 0) out->subject.assign(data, static_cast<size_t>(n));
    }
  }
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
      if (gn->type == GEN_DNS || gn->type == GEN_URI || gn->type == GEN_EMAIL) {
        const ASN1_IA5STRING* s = gn->d.ia5;
        AddUnique(&out->sans, std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                          static_cast<size_t>(ASN1_STRING_length(s))));
      } else if (gn->type == GEN_IPADD) {
        const ASN1_OCTET_STRING* s = gn->d.ip;
        int len = ASN1_STRING_length(s);
        char buf[INET6_ADDRSTRLEN] = {};
        if ((len == 4 && inet_ntop(AF_INET, ASN1_STRING_get0_data(s), buf, sizeof buf)) ||
            (len == 16 && inet_ntop(AF_INET6, ASN1_STRING_get0_data(s), buf, sizeof buf))) {
          AddUnique(&out->sans, buf);
        }
      }
    }
    GENERAL_NAMES_free(names);
  }
  return true;
}

PeerIdentity PeerIdentityOf(const grpc::AuthContext& context) {
  PeerIdentity id;
  for (const auto& v : context.FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME)) {
    id.subject.assign(v.data(), v.size());
    break;
  }
  for (const char* name :
       {GRPC_X509_SAN_PROPERTY_NAME, GRPC_PEER_DNS_PROPERTY_NAME, GRPC_PEER_URI_PROPERTY_NAME,
        GRPC_PEER_EMAIL_PROPERTY_NAME, GRPC_PEER_IP_PROPERTY_NAME}) {
    for (const auto& v : context.FindPropertyValues(name)) {
      AddUnique(&id.sans, std::string(v.data(), v.size()));
    }
  }
  if (id.subject.empty() || id.sans.empty()) {
    for (const auto& v : context.FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME)) {
      PeerIdentity parsed;
      if (PeerIdentityFromPem(std::string_view(v.data(), v.size()), &parsed)) {
        if (id.subject.empty()) id.subject = std::move(parsed.subject);
        if (id.sans.empty()) id.sans = std::move(parsed.sans);
      }
      break;
    }
  }
  return id;
}

Authenticator::Authenticator(const std::vector<PrincipalConfig>& principals) {
  for (const PrincipalConfig& pc : principals) {
    size_t index = principals_.size();
    principals_.push_back(pc.principal);
    if (!pc.api_key_sha256.empty()) {
      std::string raw = absl::HexStringToBytes(pc.api_key_sha256);
      if (raw.size() == 32) {
        KeyEntry e{};
        std::copy(raw.begin(), raw.end(), e.digest.begin());
        e.principal = index;
        keys_.push_back(e);
      }
    }
    if (!pc.mtls_subject.empty() || !pc.mtls_san.empty()) {
      mtls_.push_back({pc.mtls_subject, pc.mtls_san, index});
    }
  }
}

absl::StatusOr<Principal> Authenticator::AuthenticateApiKey(std::string_view key) const {
  if (key.empty()) return Unknown();
  const std::array<unsigned char, 32> digest = Sha256(key);
  // Every digest is compared, and the match is selected without branching on the result, so
  // the time does not depend on which entry (if any) matches.
  size_t found = 0;
  size_t index = 0;
  for (const KeyEntry& e : keys_) {
    size_t eq = ConstantTimeEquals(AsView(digest), AsView(e.digest)) ? 1 : 0;
    size_t mask = ~(eq - 1);  // all ones when equal
    index = (index & ~mask) | (e.principal & mask);
    found |= eq;
  }
  if (found == 0) return Unknown();
  return principals_[index];
}

absl::StatusOr<Principal> Authenticator::AuthenticatePeer(const grpc::AuthContext& context) const {
  if (!context.IsPeerAuthenticated()) {
    return absl::UnauthenticatedError("no verified client certificate");
  }
  return AuthenticatePeer(PeerIdentityOf(context));
}

absl::StatusOr<Principal> Authenticator::AuthenticatePeer(const PeerIdentity& peer) const {
  for (const MtlsEntry& e : mtls_) {
    bool subject_ok = e.subject.empty() ||
                      (!peer.subject.empty() && DistinguishedNamesEqual(e.subject, peer.subject));
    bool san_ok =
        e.san.empty() || std::any_of(peer.sans.begin(), peer.sans.end(),
                                     [&](const std::string& s) { return SanEquals(e.san, s); });
    if (subject_ok && san_ok) return principals_[e.principal];
  }
  return absl::UnauthenticatedError("unknown client certificate (subject '" + peer.subject +
                                    "' maps to no principal)");
}

}  // namespace airlock::gateway

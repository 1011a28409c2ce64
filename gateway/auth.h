// Identity: maps an API key or an mTLS client certificate to a configured Principal.
//
// API keys are never stored: the config holds their SHA-256 digests. A presented key is hashed
// and its digest compared with every configured digest in constant time, so the time taken
// depends neither on which principal matches nor on whether one does. Error messages never
// contain the presented key.
//
// Client certificates (already verified against tls.client_ca_file by gRPC) map to a principal
// by subject DN (mtls_subject, RFC 2253, e.g. "CN=batch-runner,O=acme") and/or by a subject
// alternative name (mtls_san: a DNS name, URI, e-mail address or IP address). When a principal
// sets both, both must match. The first matching principal in config order wins.
//
// Thread-safety: an Authenticator is immutable after construction; all methods are const and
// safe to call concurrently.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/config.h"

namespace grpc {
class AuthContext;
}

namespace airlock::gateway {

// True when a and b are equal. Runs in time that depends only on the lengths (which are not
// treated as secret), via CRYPTO_memcmp.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Lowercase hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);

// What a verified client certificate says about its holder.
struct PeerIdentity {
  std::string subject;            // RFC 2253 DN, e.g. "CN=batch-runner,O=acme"; may be empty
  std::vector<std::string> sans;  // DNS names, URIs, e-mail and IP addresses
};

// Reads the peer identity from a gRPC auth context: the subject from the "x509_subject"
// property (or, when absent, parsed from "x509_pem_cert"), SANs from
// "x509_subject_alternative_name", "peer_dns", "peer_uri", "peer_email", "peer_ip" (or, when
// none is present, parsed from "x509_pem_cert").
PeerIdentity PeerIdentityOf(const grpc::AuthContext& context);

// Parses a PEM certificate into its identity; false when it does not parse.
bool PeerIdentityFromPem(std::string_view pem, PeerIdentity* out);

// True when two distinguished names are equal: RDNs split at unescaped commas, whitespace
// around them ignored, attribute types compared case-insensitively, values exactly.
bool DistinguishedNamesEqual(std::string_view a, std::string_view b);

class Authenticator {
 public:
  explicit Authenticator(const std::vector<PrincipalConfig>& principals);

  // UNAUTHENTICATED "unknown API key" when no principal has this key (or it is empty).
  absl::StatusOr<Principal> AuthenticateApiKey(std::string_view key) const;

  // The principal of an mTLS peer; UNAUTHENTICATED when the peer is not authenticated or no
  // principal matches its certificate.
  absl::StatusOr<Principal> AuthenticatePeer(const grpc::AuthContext& context) const;
  absl::StatusOr<Principal> AuthenticatePeer(const PeerIdentity& peer) const;

 private:
  struct KeyEntry {
    std::array<unsigned char, 32> digest;
    size_t principal;
  };
  std::vector<Principal> principals_;
  std::vector<KeyEntry> keys_;
  struct MtlsEntry {
    std::string subject;
    std::string san;
    size_t principal;
  };
  std::vector<MtlsEntry> mtls_;
};

}  // namespace airlock::gateway

// Identity: API keys (SHA-256 digests compared in constant time, never echoed) and mTLS
// client certificates mapped by subject DN or SAN — including over a real gRPC mTLS channel
// with certificates made at test time.
#include "gateway/auth.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "airlock/v1/gateway.grpc.pb.h"
#include "grpc/grpc_security_constants.h"

namespace airlock::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

PrincipalConfig KeyPrincipal(const std::string& tenant, const std::string& subject,
                             const std::string& key) {
  PrincipalConfig p;
  p.principal.tenant = tenant;
  p.principal.subject = subject;
  p.principal.labels = {{"team", tenant + "-team"}};
  p.api_key_sha256 = Sha256Hex(key);
  return p;
}

PrincipalConfig CertPrincipal(const std::string& subject, const std::string& dn,
                              const std::string& san) {
  PrincipalConfig p;
  p.principal.tenant = "acme";
  p.principal.subject = subject;
  p.mtls_subject = dn;
  p.mtls_san = san;
  return p;
}

TEST(ConstantTimeEqualsTest, ComparesBytes) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_TRUE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(Sha256HexTest, KnownVector) {
  EXPECT_EQ(Sha256Hex("password"),
            "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(AuthenticatorTest, ApiKeys) {
  Authenticator auth({KeyPrincipal("acme", "agent-1", "key-one-secret"),
                      KeyPrincipal("globex", "agent-2", "key-two-secret"),
                      CertPrincipal("batch", "CN=batch", "")});
  absl::StatusOr<Principal> p = auth.AuthenticateApiKey("key-one-secret");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->tenant, "acme");
  EXPECT_EQ(p->subject, "agent-1");
  EXPECT_EQ(p->labels.at("team"), "acme-team");
  p = auth.AuthenticateApiKey("key-two-secret");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->tenant, "globex");
  EXPECT_EQ(p->subject, "agent-2");

  for (const std::string& bad :
       std::vector<std::string>{"", "key-one-secreT", "key-one-secret ", "key-one-secre", "key-one",
                                "zq9", "key-one-secretkey-one-secret",
                                std::string("key-one-secret\0", 15), std::string(100000, 'x')}) {
    absl::StatusOr<Principal> r = auth.AuthenticateApiKey(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(r.status().message(), "unknown API key");
    if (!bad.empty()) {
      EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr(bad)));
    }
  }
}

TEST(AuthenticatorTest, UppercaseDigestsInConfigWork) {
  PrincipalConfig p = KeyPrincipal("acme", "a", "k1");
  for (char& c : p.api_key_sha256) c = static_cast<char>(std::toupper(c));
  Authenticator auth({p});
  EXPECT_TRUE(auth.AuthenticateApiKey("k1").ok());
}

TEST(AuthenticatorTest, NoPrincipalsMeansNobody) {
  Authenticator auth({});
  EXPECT_EQ(auth.AuthenticateApiKey("anything").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(auth.AuthenticatePeer(PeerIdentity{"CN=x", {"x"}}).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(DistinguishedNamesTest, Normalization) {
  EXPECT_TRUE(DistinguishedNamesEqual("CN=batch-runner,O=acme", "CN=batch-runner,O=acme"));
  EXPECT_TRUE(DistinguishedNamesEqual("CN=batch-runner, O=acme", "cn=batch-runner,o=acme"));
  EXPECT_FALSE(DistinguishedNamesEqual("CN=batch-runner,O=acme", "CN=Batch-runner,O=acme"));
  EXPECT_FALSE(DistinguishedNamesEqual("CN=batch-runner", "CN=batch-runner,O=acme"));
  EXPECT_FALSE(DistinguishedNamesEqual("O=acme,CN=batch-runner", "CN=batch-runner,O=acme"));
  // An escaped comma is part of the value.
  EXPECT_TRUE(DistinguishedNamesEqual("CN=a\\,b,O=x", "CN=a\\,b, O=x"));
  EXPECT_FALSE(DistinguishedNamesEqual("CN=a\\,b,O=x", "CN=a,B=b,O=x"));
}

TEST(AuthenticatorTest, PeerMapping) {
  Authenticator auth({
      CertPrincipal("by-subject", "CN=batch-runner,O=acme", ""),
      CertPrincipal("by-san", "", "batch.acme.internal"),
      CertPrincipal("by-uri", "", "spiffe://acme/worker"),
      CertPrincipal("by-both", "CN=both", "both.acme.internal"),
      KeyPrincipal("acme", "key-only", "k"),
  });
  auto subject_of = [&](const PeerIdentity& peer) -> std::string {
    absl::StatusOr<Principal> p = auth.AuthenticatePeer(peer);
    return p.ok() ? p->subject : std::string(p.status().message());
  };
  EXPECT_EQ(subject_of({"CN=batch-runner,O=acme", {}}), "by-subject");
  EXPECT_EQ(subject_of({"CN=batch-runner, O=acme", {"other.internal"}}), "by-subject");
  EXPECT_EQ(subject_of({"CN=someone", {"x.internal", "BATCH.acme.internal"}}), "by-san");
  EXPECT_EQ(subject_of({"", {"spiffe://acme/worker"}}), "by-uri");
  EXPECT_THAT(subject_of({"", {"spiffe://ACME/worker"}}), HasSubstr("unknown client certificate"));
  // Both set: both must match.
  EXPECT_EQ(subject_of({"CN=both", {"both.acme.internal"}}), "by-both");
  EXPECT_THAT(subject_of({"CN=both", {"other"}}), HasSubstr("unknown client certificate"));
  EXPECT_THAT(subject_of({"CN=other", {"both.acme.internal"}}),
              HasSubstr("unknown client certificate"));
  absl::StatusOr<Principal> none = auth.AuthenticatePeer(PeerIdentity{"CN=nobody", {"nobody"}});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(none.status().message()), HasSubstr("CN=nobody"));
  EXPECT_EQ(auth.AuthenticatePeer(PeerIdentity{}).status().code(),
            absl::StatusCode::kUnauthenticated);
}

// --- Certificates made at test time --------------------------------------------------------

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using CertPtr = std::unique_ptr<X509, decltype(&X509_free)>;

std::string ToPem(const std::function<int(BIO*)>& write) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  write(bio.get());
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

struct Issued {
  KeyPtr key{nullptr, &EVP_PKEY_free};
  CertPtr cert{nullptr, &X509_free};
  std::string key_pem() const {
    return ToPem([&](BIO* b) {
      return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
  }
  std::string cert_pem() const {
    return ToPem([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); });
  }
};

// A certificate with `subject` entries (in order) and `san` (e.g. "DNS:a,URI:b"), signed by
// `issuer` (self-signed CA when null).
Issued Issue(const std::vector<std::pair<std::string, std::string>>& subject,
             const std::string& san, const Issued* issuer) {
  Issued out;
  out.key.reset(EVP_EC_gen("P-256"));
  out.cert.reset(X509_new());
  X509* c = out.cert.get();
  X509_set_version(c, 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
  X509_gmtime_adj(X509_getm_notBefore(c), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c), 24 * 3600);
  X509_set_pubkey(c, out.key.get());
  X509_NAME* name = X509_get_subject_name(c);
  for (const auto& [field, value] : subject) {
    X509_NAME_add_entry_by_txt(name, field.c_str(), MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0);
  }
  X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer->cert.get()) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer->cert.get() : c, c, nullptr, nullptr, 0);
  auto add = [&](int nid, const std::string& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    X509_add_ext(c, ext, -1);
    X509_EXTENSION_free(ext);
  };
  if (issuer == nullptr) {
    add(NID_basic_constraints, "critical,CA:TRUE");
    add(NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add(NID_basic_constraints, "CA:FALSE");
  }
  if (!san.empty()) add(NID_subject_alt_name, san);
  X509_sign(c, issuer ? issuer->key.get() : out.key.get(), EVP_sha256());
  return out;
}

// An AuthContext with fixed properties.
class FakeAuthContext : public grpc::AuthContext {
 public:
  explicit FakeAuthContext(std::multimap<std::string, std::string> props, bool authenticated = true)
      : props_(std::move(props)), authenticated_(authenticated) {}
  bool IsPeerAuthenticated() const override { return authenticated_; }
  std::vector<grpc::string_ref> GetPeerIdentity() const override { return {}; }
  std::string GetPeerIdentityPropertyName() const override { return ""; }
  std::vector<grpc::string_ref> FindPropertyValues(const std::string& name) const override {
    std::vector<grpc::string_ref> out;
    auto [b, e] = props_.equal_range(name);
    for (auto it = b; it != e; ++it) out.emplace_back(it->second);
    return out;
  }
  grpc::AuthPropertyIterator begin() const override { return Iter(); }
  grpc::AuthPropertyIterator end() const override { return Iter(); }
  void AddProperty(const std::string&, const grpc::string_ref&) override {}
  bool SetPeerIdentityPropertyName(const std::string&) override { return false; }

 private:
  struct Iter : grpc::AuthPropertyIterator {};
  std::multimap<std::string, std::string> props_;
  bool authenticated_;
};

TEST(PeerIdentityTest, FromProperties) {
  FakeAuthContext ctx({{GRPC_X509_SUBJECT_PROPERTY_NAME, "CN=batch-runner,O=acme"},
                       {GRPC_X509_SAN_PROPERTY_NAME, "batch.acme.internal"},
                       {GRPC_X509_SAN_PROPERTY_NAME, "spiffe://acme/batch"},
                       {GRPC_PEER_DNS_PROPERTY_NAME, "batch.acme.internal"}});
  PeerIdentity id = PeerIdentityOf(ctx);
  EXPECT_EQ(id.subject, "CN=batch-runner,O=acme");
  EXPECT_EQ(id.sans, (std::vector<std::string>{"batch.acme.internal", "spiffe://acme/batch"}));

  Authenticator auth({CertPrincipal("batch", "CN=batch-runner,O=acme", "")});
  absl::StatusOr<Principal> p = auth.AuthenticatePeer(ctx);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->subject, "batch");
  FakeAuthContext anonymous({{GRPC_X509_SUBJECT_PROPERTY_NAME, "CN=batch-runner,O=acme"}},
                            /*authenticated=*/false);
  EXPECT_EQ(auth.AuthenticatePeer(anonymous).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(PeerIdentityTest, FromPemWhenPropertiesAreMissing) {
  Issued ca = Issue({{"CN", "Test CA"}}, "", nullptr);
  Issued client = Issue({{"O", "acme"}, {"OU", "batch"}, {"CN", "batch-runner"}},
                        "DNS:batch.acme.internal,URI:spiffe://acme/batch,IP:10.0.0.7,"
                        "email:ops@acme.example",
                        &ca);
  FakeAuthContext ctx({{GRPC_X509_PEM_CERT_PROPERTY_NAME, client.cert_pem()}});
  PeerIdentity id = PeerIdentityOf(ctx);
  EXPECT_EQ(id.subject, "CN=batch-runner,OU=batch,O=acme");  // RFC 2253: most specific first
  EXPECT_EQ(id.sans, (std::vector<std::string>{"batch.acme.internal", "spiffe://acme/batch",
                                               "10.0.0.7", "ops@acme.example"}));
  PeerIdentity bad;
  EXPECT_FALSE(PeerIdentityFromPem("not a certificate", &bad));
}

// A Gateway service whose Classify answers with the authenticated principal.
class WhoAmI : public v1::Gateway::CallbackService {
 public:
  explicit WhoAmI(const Authenticator* auth) : auth_(auth) {}
  grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* ctx, const v1::ChatRequest*,
                                     v1::ClassifyResponse* response) override {
    auto* reactor = ctx->DefaultReactor();
    std::shared_ptr<const grpc::AuthContext> peer = ctx->auth_context();
    absl::StatusOr<Principal> p = absl::UnauthenticatedError("no auth context");
    if (peer) p = auth_->AuthenticatePeer(*peer);
    if (!p.ok()) {
      reactor->Finish(
          grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(p.status().message())));
    } else {
      response->set_request_id(p->tenant + "/" + p->subject);
      reactor->Finish(grpc::Status::OK);
    }
    return reactor;
  }

 private:
  const Authenticator* auth_;
};

TEST(MtlsTest, RealGrpcPeerMapsToPrincipal) {
  Issued ca = Issue({{"CN", "Airlock Test CA"}}, "", nullptr);
  Issued server = Issue({{"CN", "localhost"}}, "DNS:localhost,IP:127.0.0.1", &ca);
  Issued batch = Issue({{"O", "acme"}, {"CN", "batch-runner"}}, "DNS:batch.acme.internal", &ca);
  Issued worker = Issue({{"CN", "worker"}}, "URI:spiffe://acme/worker", &ca);
  Issued stranger = Issue({{"CN", "stranger"}}, "DNS:stranger.example", &ca);

  Authenticator auth({CertPrincipal("batch", "CN=batch-runner, O=acme", ""),
                      CertPrincipal("worker", "", "spiffe://acme/worker")});
  WhoAmI service(&auth);
  grpc::SslServerCredentialsOptions opts(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  opts.pem_root_certs = ca.cert_pem();
  opts.pem_key_cert_pairs.push_back({server.key_pem(), server.cert_pem()});
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(opts), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  ASSERT_NE(grpc_server, nullptr);
  ASSERT_GT(port, 0);

  auto call = [&](const Issued& client, std::string* who) {
    grpc::SslCredentialsOptions copts;
    copts.pem_root_certs = ca.cert_pem();
    copts.pem_private_key = client.key_pem();
    copts.pem_cert_chain = client.cert_pem();
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                             grpc::SslCredentials(copts), args);
    auto stub = v1::Gateway::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ChatRequest req;
    v1::ClassifyResponse resp;
    grpc::Status s = stub->Classify(&ctx, req, &resp);
    *who = s.ok() ? resp.request_id() : s.error_message();
    return s.error_code();
  };
  std::string who;
  EXPECT_EQ(call(batch, &who), grpc::StatusCode::OK) << who;
  EXPECT_EQ(who, "acme/batch");
  EXPECT_EQ(call(worker, &who), grpc::StatusCode::OK) << who;
  EXPECT_EQ(who, "acme/worker");
  EXPECT_EQ(call(stranger, &who), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(who, HasSubstr("CN=stranger"));
  grpc_server->Shutdown();
}

}  // namespace
}  // namespace airlock::gateway

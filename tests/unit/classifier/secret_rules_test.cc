// The built-in secret rules (classifier/secret_rules.h) and their checks
// (classifier/secret_checks.h). Test tokens are generated here from a fixed seed so that no
// realistic-looking credential is written out in the source.
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "classifier/classifier.h"
#include "classifier/pattern_set.h"
#include "classifier/secret_checks.h"
#include "classifier/secret_rules.h"
#include "gtest/gtest.h"
#include "tests/unit/classifier/rule_out.h"

namespace airlock::classifier {
namespace {

using secrets::KeyKind;

constexpr char kBase62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// Deterministic pseudo-random strings over an alphabet (a 64-bit LCG, high bits).
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  std::string Of(std::string_view alphabet, size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) {
      state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
      out.push_back(alphabet[(state_ >> 33) % alphabet.size()]);
    }
    return out;
  }
  std::string Base62(size_t n) { return Of(kBase62, n); }
  std::string Hex(size_t n) { return Of("0123456789abcdef", n); }
  std::string Letters(size_t n) {
    return Of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", n);
  }
  std::string Base64(size_t n) {
    return Of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", n);
  }

 private:
  uint64_t state_;
};

std::string EncodeBase64(std::string_view in, bool url) {
  const char* alphabet = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                             : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(alphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(alphabet[(acc << (6 - bits)) & 63]);
  if (!url) {
    while (out.size() % 4 != 0) out.push_back('=');
  }
  return out;
}

class SecretRulesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto created = PatternSetDetector::Create("secrets", SecretPatternRules());
    ASSERT_TRUE(created.ok()) << created.status();
    detector_ = std::move(*created).release();
  }
  static void TearDownTestSuite() {
    delete detector_;
    detector_ = nullptr;
  }

  static std::vector<Match> Scan(std::string_view text) {
    std::vector<Match> out;
    detector_->Scan(text, &out);
    return out;
  }

  // The text of the match of `category`, or "" when there is none.
  static std::string Found(std::string_view text, std::string_view category) {
    for (const Match& m : Scan(text)) {
      if (m.category == category) return std::string(text.substr(m.begin, m.end - m.begin));
    }
    return "";
  }

  static std::string Describe(std::string_view text) {
    std::string out;
    for (const Match& m : Scan(text)) {
      out += m.category + " (" + m.detector + ") [" +
             std::string(text.substr(m.begin, m.end - m.begin)) + "]\n";
    }
    return out.empty() ? "no findings" : out;
  }

  static PatternSetDetector* detector_;
};

PatternSetDetector* SecretRulesTest::detector_ = nullptr;

TEST_F(SecretRulesTest, EveryRuleIsARestrictedSecretCategory) {
  const std::vector<PatternRule> rules = SecretPatternRules();
  ASSERT_GT(rules.size(), 100u);
  std::set<std::string> names;
  for (const PatternRule& r : rules) {
    EXPECT_TRUE(r.category.starts_with("secret.")) << r.name;
    EXPECT_EQ(r.level, Level::kRestricted) << r.name;
    EXPECT_GT(r.confidence, 0.5f) << r.name;
    EXPECT_TRUE(names.insert(r.name).second) << "duplicate rule name " << r.name;
  }
}

// ------------------------------------------------------------------------- private keys

TEST_F(SecretRulesTest, PemBlockIsFoundWholeForEveryKeyType) {
  Random rnd(1);
  for (const std::string type : {"RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED ", ""}) {
    std::string block = "-----BEGIN " + type + "PRIVATE KEY-----\n";
    for (int i = 0; i < 5; ++i) block += rnd.Base64(64) + "\n";
    block += "-----END " + type + "PRIVATE KEY-----";
    const std::string text = "key file:\n" + block + "\nend of paste";
    EXPECT_EQ(Found(text, "secret.private_key"), block) << type;
  }
  std::string pgp = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n" + rnd.Base64(64) + "\n" +
                    rnd.Base64(40) + "\n=" + rnd.Base64(4) +
                    "\n-----END PGP PRIVATE KEY BLOCK-----";
  EXPECT_EQ(Found("x " + pgp + " y", "secret.private_key"), pgp);
}

TEST_F(SecretRulesTest, TruncatedPemBlockIsFoundThroughItsBody) {
  Random rnd(2);
  const std::string body = rnd.Base64(64) + "\n" + rnd.Base64(30);
  const std::string text = "-----BEGIN RSA PRIVATE KEY-----\n" + body + "\n\n(the rest was cut)";
  EXPECT_EQ(Found(text, "secret.private_key"), "-----BEGIN RSA PRIVATE KEY-----\n" + body);
}

TEST_F(SecretRulesTest, PemHeaderInProseIsNotAKey) {
  const std::string text =
      "A key file starts with -----BEGIN RSA PRIVATE KEY----- and ends with "
      "-----END RSA PRIVATE KEY-----; never paste one into a ticket.";
  EXPECT_EQ(Found(text, "secret.private_key"), "") << Describe(text);
}

TEST_F(SecretRulesTest, Base64EncodedPemIsAKey) {
  Random rnd(3);
  const std::string pem = "-----BEGIN RSA PRIVATE KEY-----\n" + rnd.Base64(64) + "\n";
  const std::string encoded = EncodeBase64(pem, false);
  EXPECT_EQ(Found("PRIVATE_KEY_B64=" + encoded, "secret.private_key"), encoded);
  const std::string cert = EncodeBase64("-----BEGIN CERTIFICATE-----\n" + rnd.Base64(64), false);
  EXPECT_EQ(Found("CERT_B64=" + cert, "secret.private_key"), "");
}

// ---------------------------------------------------------------------------------- JWT

TEST_F(SecretRulesTest, JwtNeedsAHeaderWithAlg) {
  Random rnd(4);
  const std::string payload = EncodeBase64(R"({"sub":"user-1","exp":1700000000})", true);
  const std::string sig =
      rnd.Of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 43);
  const std::string jwt =
      EncodeBase64(R"({"alg":"HS256","typ":"JWT"})", true) + "." + payload + "." + sig;
  EXPECT_EQ(Found("Authorization: " + jwt + "\n", "secret.jwt"), jwt);
  const std::string no_alg =
      EncodeBase64(R"({"typ":"JWT","kid":"k1"})", true) + "." + payload + "." + sig;
  EXPECT_EQ(Found(no_alg, "secret.jwt"), "");
}

// ---------------------------------------------------------------------------- providers

TEST_F(SecretRulesTest, ProviderFormatsAreFound) {
  Random rnd(5);
  const std::string ghp = "ghp_" + rnd.Base62(36);
  const std::string pat = "github_pat_" + rnd.Of(std::string(kBase62) + "_", 82);
  const std::string aws_id = "AKIA" + rnd.Of("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16);
  const std::string aws_secret = rnd.Base64(40);
  const std::string gcp = "AIza" + rnd.Of(std::string(kBase62) + "_-", 35);
  const std::string glpat = "glpat-" + rnd.Base62(20);
  const std::string slack = "xoxb-" + rnd.Hex(0) + "123456789012-1234567890123-" + rnd.Base62(24);
  const std::string stripe = "sk_live_" + rnd.Base62(24);
  const std::string openai = "sk-proj-" + rnd.Of(std::string(kBase62) + "_-", 60);
  const std::string anthropic = "sk-ant-api03-" + rnd.Of(std::string(kBase62) + "_-", 95);
  const std::string hf = "hf_" + rnd.Letters(34);
  const std::string npm = "npm_" + rnd.Base62(36);
  const std::string pypi = "pypi-AgEIcHlwaS5vcmc" + rnd.Of(std::string(kBase62) + "_-", 70);
  const std::string twilio = "SK" + rnd.Hex(32);
  const std::string sendgrid = "SG." + rnd.Base62(22) + "." + rnd.Base62(43);
  const std::string docker = "dckr_pat_" + rnd.Base62(27);
  const std::string azure_key = rnd.Base64(86) + "==";
  const struct {
    std::string text, category, span;
  } cases[] = {
      {"GITHUB_TOKEN=" + ghp, "secret.github_token", ghp},
      {"token: " + pat + "\n", "secret.github_token", pat},
      {"aws_access_key_id = " + aws_id, "secret.aws_access_key", aws_id},
      {"aws_secret_access_key = " + aws_secret + "\n", "secret.aws_secret_key", aws_secret},
      {"key=" + gcp + "&q=1", "secret.gcp_api_key", gcp},
      {"git clone https://oauth2:" + glpat + "@gitlab.example.com/x.git", "secret.gitlab_token",
       glpat},
      {"SLACK=" + slack, "secret.slack_token", slack},
      {"Stripe.api_key = '" + stripe + "'", "secret.stripe_key", stripe},
      {"OPENAI_API_KEY=" + openai, "secret.openai_api_key", openai},
      {"x-api-key: " + anthropic, "secret.anthropic_api_key", anthropic},
      {"HF_TOKEN=" + hf, "secret.huggingface_token", hf},
      {"//registry.npmjs.org/:_authToken=" + npm, "secret.npm_token", npm},
      {"password = " + pypi, "secret.pypi_token", pypi},
      {"TWILIO_API_KEY_SID=" + twilio, "secret.twilio_key", twilio},
      {"SENDGRID_API_KEY='" + sendgrid + "'", "secret.sendgrid_api_key", sendgrid},
      {"docker login -u me -p " + docker, "secret.dockerhub_token", docker},
      {"DefaultEndpointsProtocol=https;AccountName=acct01;AccountKey=" + azure_key +
           ";EndpointSuffix=core.windows.net",
       "secret.azure_storage_key", azure_key},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Found(c.text, c.category), c.span) << c.text << "\n" << Describe(c.text);
  }
}

TEST_F(SecretRulesTest, GithubChecksumRaisesConfidence) {
  Random rnd(6);
  const std::string random = rnd.Base62(30);
  uint32_t crc = secrets::Crc32(random);
  std::string check(6, '0');
  for (size_t i = 6; i-- > 0 && crc > 0; crc /= 62) check[i] = kBase62[crc % 62];
  const std::string valid = "ghp_" + random + check;
  std::string invalid = valid;
  invalid.back() = invalid.back() == 'a' ? 'b' : 'a';
  float valid_confidence = 0, invalid_confidence = 0;
  for (const Match& m : Scan(valid)) valid_confidence = m.confidence;
  for (const Match& m : Scan(invalid)) invalid_confidence = m.confidence;
  EXPECT_GT(valid_confidence, invalid_confidence);
  EXPECT_GT(invalid_confidence, 0.0f);  // still GitHub's format
}

// ------------------------------------------------------------- passwords and assignments

TEST_F(SecretRulesTest, PasswordsInUrlsAndConnectionStrings) {
  EXPECT_EQ(Found("DATABASE_URL=postgres://app:S3cure-Pa55@db.internal:5432/app",
                  "secret.password_in_url"),
            "S3cure-Pa55");
  EXPECT_EQ(Found("mongodb+srv://svc:Zx9%40vB2q@cluster0.example.net/db", "secret.password_in_url"),
            "Zx9%40vB2q");
  EXPECT_EQ(Found("Server=db01;Database=sales;User ID=app;Password=Tr0ub4dor&3;",
                  "secret.connection_string"),
            "Tr0ub4dor&3");
  // Placeholders and variables are not passwords.
  for (const char* text :
       {"postgres://user:password@localhost/db", "postgres://user:${DB_PASSWORD}@localhost/db",
        "mongodb://admin:<password>@host/db", "connect(host=h, user=u, password=pw)"}) {
    EXPECT_EQ(Describe(text), "no findings") << text;
  }
}

TEST_F(SecretRulesTest, KeywordAssignmentsInTheirUsualForms) {
  Random rnd(7);
  const std::string token = rnd.Base62(32);
  const struct {
    std::string text, category, span;
  } cases[] = {
      {"DB_PASSWORD=\"Tr0ub4dor&3\"", "secret.password", "Tr0ub4dor&3"},
      {"  password: hunter22\n", "secret.password", "hunter22"},
      {R"({"user": "svc", "password": "c0rrect-h0rse"})", "secret.password", "c0rrect-h0rse"},
      {"$db_pass = 'Winter2024!';", "secret.password", "Winter2024!"},
      {"if password == \"letmein42\":", "secret.password", "letmein42"},
      {"{\"api_key\": \"" + token + "\"}", "secret.generic_secret", token},
      {"client_secret: " + token + "\n", "secret.generic_secret", token},
      {"export AUTH_TOKEN=" + token, "secret.generic_secret", token},
      {"signing_key: !!binary " + EncodeBase64(token, false), "secret.generic_secret",
       EncodeBase64(token, false)},
      {"SESSION_SIGNING=" + token + "\n", "secret.high_entropy_string", token},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Found(c.text, c.category), c.span) << c.text << "\n" << Describe(c.text);
  }
}

// high_entropy_assignment's prefilter is only the part from the '=' to the line's end: every
// form is still found, alone and as the last of several fields (one joined prefilter pass), and
// a long value that does not end its line is not.
TEST_F(SecretRulesTest, HighEntropyAssignmentInEveryForm) {
  Random rnd(11);
  const std::string token = rnd.Base62(40);
  const std::string forms[] = {
      "SESSION_SIGNING=" + token,
      "export SESSION_SIGNING=\"" + token + "\"\n",
      "  session.signing: '" + token + "'  # rotated monthly\r\n",
      "notes\nSESSION_SIGNING = " + token + ";\nmore notes",
  };
  for (const std::string& text : forms) {
    EXPECT_EQ(Found(text, "secret.high_entropy_string"), token) << text << "\n" << Describe(text);
    const std::vector<std::string_view> fields = {"the quarterly report", "see below", text};
    EXPECT_EQ(MayMatch(*detector_, fields), (std::vector<bool>{false, false, true})) << text;
  }
  EXPECT_EQ(Found("SESSION_SIGNING=" + token + " and more", "secret.high_entropy_string"), "");
}

TEST_F(SecretRulesTest, PlaceholdersReferencesAndNamesAreNotSecrets) {
  for (const char* text : {
           "password = \"<your-password>\"",
           "api_key: ${API_KEY}",
           "token = \"xxxxxxxxxxxxxxxxxxxxxxxx\"",
           "secret: changeme",
           "PASSWORD=$DB_PASSWORD",
           "password = os.environ[\"DB_PASSWORD\"]",
           "token = get_token(user)",
           "password: \"{{ vault_db_password }}\"",
           "password = user_password",
           "token_url = \"https://id.example.com/oauth/token\"",
           "password_min_length = 12",
           "secret_name = \"db-credentials-prod-01\"",
           "token = \"3f2b8c1e-7a4d-4c2b-9e61-2d5f0a8b7c34\"",
           "api_key = \"abcdef0123456789abcdef\"",
           "hashed_secret: 5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8",
           "parser.add_argument(\"--password-stdin\", action=\"store_true\")",
           "tests/test_auth.py::test_login_rejects_short_password PASSED",
           "commit 1a4f0c9e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39",
           "image: reg.example.com/app@sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904c1d5a2b3",
           "next_page: eyJhZnRlciI6ImNoXzAxSFJaOEszVzVRMk43TTRQNlQ5VjFYMFlCIn0",
           "Please reset your password and rotate the API token after the incident.",
       }) {
    EXPECT_EQ(Describe(text), "no findings") << text;
  }
}

TEST_F(SecretRulesTest, HttpAuthorizationHeaders) {
  const std::string basic = EncodeBase64("alice:correct-horse-battery", false);
  EXPECT_EQ(Found("Authorization: Basic " + basic + "\r\n", "secret.http_basic_auth"), basic);
  EXPECT_EQ(Found("Authorization: Basic " + EncodeBase64("no colon here", false),
                  "secret.http_basic_auth"),
            "");
  EXPECT_EQ(Found("Authorization: Bearer mF_9.B5f-4.1JqM\n", "secret.bearer_token"),
            "mF_9.B5f-4.1JqM");
  EXPECT_EQ(Found("Authorization: Bearer <token>", "secret.bearer_token"), "");
}

TEST_F(SecretRulesTest, PasswordHashes) {
  Random rnd(8);
  const std::string bcrypt =
      "$2b$12$" + rnd.Of("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 53);
  EXPECT_EQ(Found("admin:" + bcrypt + ":19000", "secret.password_hash"), bcrypt);
}

// ---------------------------------------------------------------------------- bad input

TEST_F(SecretRulesTest, EmptyAndBinaryInput) {
  EXPECT_TRUE(Scan("").empty());
  Random rnd(9);
  const std::string ghp = "ghp_" + rnd.Base62(36);
  std::string text = "\xff\xfe\x00 junk \xc3\x28 ";
  text += ghp;
  text += " \x80\x81\x00";
  EXPECT_EQ(Found(text, "secret.github_token"), ghp);
}

TEST_F(SecretRulesTest, AdversarialInputIsScannedInBoundedWork) {
  // Thousands of key headers without bodies or END lines, candidate keywords without values,
  // and one long line without white space: all scanned, nothing invented.
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "-----BEGIN RSA PRIVATE KEY-----\n";
  for (int i = 0; i < 5000; ++i) text += "token=token=";
  text += "\npassword=";
  text += std::string(100000, 'a');
  text += "\n";
  const std::vector<Match> matches = Scan(text);
  for (const Match& m : matches) {
    ADD_FAILURE() << m.category << " at " << m.begin << ".." << m.end;
  }
}

TEST_F(SecretRulesTest, FormatRulesAreMoreConfidentThanKeywordRules) {
  // `GITHUB_TOKEN=ghp_...` is both a GitHub token and a token-named assignment: the two rules
  // report the same span, the format rule with the higher confidence.
  Random rnd(10);
  const std::string ghp = "ghp_" + rnd.Base62(36);
  const std::string text = "export GITHUB_TOKEN=" + ghp;
  float github = 0, generic = 0;
  for (const Match& m : Scan(text)) {
    EXPECT_EQ(text.substr(m.begin, m.end - m.begin), ghp) << m.category;
    if (m.category == "secret.github_token") github = m.confidence;
    if (m.category == "secret.generic_secret") generic = m.confidence;
  }
  EXPECT_GT(github, generic);
  EXPECT_GT(generic, 0.0f);
}

TEST_F(SecretRulesTest, ClassifierReportsARestrictedFinding) {
  auto created = PatternSetDetector::Create("secrets", SecretPatternRules());
  ASSERT_TRUE(created.ok());
  std::vector<std::unique_ptr<Detector>> detectors;
  detectors.push_back(std::move(*created));
  const Classifier classifier(std::move(detectors));
  v1::ChatRequest request;
  auto* m = request.add_messages();
  m->set_role(v1::Message::USER);
  Random rnd(10);
  const std::string token = rnd.Base62(40);
  m->set_content("why does this fail?\nclient_secret: " + token + "\n");
  const Assessment a = classifier.Assess(request);
  EXPECT_EQ(a.level, Level::kRestricted);
  ASSERT_EQ(a.findings.size(), 1u);
  EXPECT_EQ(a.findings[0].category, "secret.generic_secret");
  EXPECT_EQ(m->content().substr(a.findings[0].begin, a.findings[0].end - a.findings[0].begin),
            token);
}

// ------------------------------------------------------------------------------- checks

TEST(SecretChecksTest, Entropy) {
  EXPECT_EQ(secrets::ShannonEntropy(""), 0);
  EXPECT_EQ(secrets::ShannonEntropy("aaaa"), 0);
  EXPECT_DOUBLE_EQ(secrets::ShannonEntropy("abab"), 1.0);
  EXPECT_DOUBLE_EQ(secrets::ShannonEntropy("0123456789abcdef"), 4.0);
  EXPECT_DOUBLE_EQ(secrets::EntropyThreshold("0123456789abcdef", 1.0, 10.0), 4.0);  // hex: 16
  EXPECT_DOUBLE_EQ(secrets::EntropyThreshold(std::string(64, 'x'), 0.5, 10.0), 3.0);
  EXPECT_DOUBLE_EQ(secrets::EntropyThreshold(std::string(64, 'x'), 1.0, 4.5), 4.5);
}

TEST(SecretChecksTest, CharactersAndShapes) {
  EXPECT_TRUE(secrets::IsHexString("DEADbeef01"));
  EXPECT_FALSE(secrets::IsHexString(""));
  EXPECT_FALSE(secrets::IsHexString("xyz"));
  EXPECT_EQ(secrets::CharClassCount("aA1!"), 4);
  EXPECT_EQ(secrets::CharClassCount("abc"), 1);
  EXPECT_TRUE(secrets::IsUuid("3f2b8c1e-7a4d-4c2b-9e61-2d5f0a8b7c34"));
  EXPECT_FALSE(secrets::IsUuid("3f2b8c1e7a4d4c2b9e612d5f0a8b7c34"));
}

TEST(SecretChecksTest, Sequences) {
  EXPECT_TRUE(secrets::LooksSequential("0123456789a"));
  EXPECT_TRUE(secrets::LooksSequential("xyzabcdefq"));
  EXPECT_TRUE(secrets::LooksSequential("a1b2c3d4e5f6g7"));
  EXPECT_TRUE(secrets::LooksSequential("987654"));
  EXPECT_TRUE(secrets::LooksSequential("7890123"));
  EXPECT_FALSE(secrets::LooksSequential("12345"));
  Random rnd(11);
  EXPECT_FALSE(secrets::LooksSequential(rnd.Base62(40)));
}

TEST(SecretChecksTest, Placeholders) {
  for (const char* v :
       {"", "xxxxxxxx", "********", "<your-api-key>", "${TOKEN}", "$TOKEN", "%DB_PASS%",
        "{{ secret }}", "changeme", "YOUR_API_KEY_HERE", "example-token-123", "password", "[none]",
        "aaaaaaaaaaaaaaaaend", "&lt;KEY&gt;", "%(password)s", "$(cat /run/secret)"}) {
    EXPECT_TRUE(secrets::LooksPlaceholder(v)) << v;
  }
  Random rnd(12);
  for (const std::string& v : {rnd.Base62(32), std::string("Tr0ub4dor&3"),
                               std::string("django-insecure-_du9e^cm%(^+=gr@")}) {
    EXPECT_FALSE(secrets::LooksPlaceholder(v)) << v;
  }
}

TEST(SecretChecksTest, Base64AndJwtHeader) {
  EXPECT_EQ(secrets::DecodeBase64("aGVsbG8="), "hello");
  EXPECT_EQ(secrets::DecodeBase64("aGVsbG8"), "hello");
  EXPECT_EQ(secrets::DecodeBase64("-_8"), std::string("\xfb\xff"));
  EXPECT_EQ(secrets::DecodeBase64("a"), std::nullopt);
  EXPECT_EQ(secrets::DecodeBase64("a*b="), std::nullopt);
  EXPECT_TRUE(secrets::IsJwtHeader(EncodeBase64(R"({"alg":"RS256","kid":"2024"})", true)));
  EXPECT_TRUE(secrets::IsJwtHeader(EncodeBase64(R"( { "typ": "JWT", "alg" : "none" })", true)));
  EXPECT_FALSE(secrets::IsJwtHeader(EncodeBase64(R"({"k":"alg"})", true)));
  EXPECT_FALSE(secrets::IsJwtHeader(EncodeBase64(R"(["alg"])", true)));
  EXPECT_FALSE(secrets::IsJwtHeader("not base64!"));
}

TEST(SecretChecksTest, Crc32AndGithubChecksum) {
  EXPECT_EQ(secrets::Crc32("123456789"), 0xCBF43926u);  // the standard check value
  EXPECT_EQ(secrets::Crc32(""), 0u);
  EXPECT_FALSE(secrets::GithubChecksumValid("ghp_short"));
  EXPECT_FALSE(secrets::GithubChecksumValid("xyz_" + std::string(36, 'a')));
}

TEST(SecretChecksTest, KeyWordsAndKinds) {
  EXPECT_EQ(secrets::KeyWords("AUTH0_ClientSecret"), "auth0 client secret");
  EXPECT_EQ(secrets::KeyWords("APIKey"), "api key");
  EXPECT_EQ(secrets::KeyWords("db.password-file", '_'), "db_password_file");
  EXPECT_EQ(secrets::ClassifyKey("DB_PASSWORD"), KeyKind::kPassword);
  EXPECT_EQ(secrets::ClassifyKey("userPassword"), KeyKind::kPassword);
  EXPECT_EQ(secrets::ClassifyKey("$pwd"), KeyKind::kPassword);
  EXPECT_EQ(secrets::ClassifyKey("apiKey"), KeyKind::kToken);
  EXPECT_EQ(secrets::ClassifyKey("aws_secret_access_key"), KeyKind::kToken);
  EXPECT_EQ(secrets::ClassifyKey("jwtsecret"), KeyKind::kToken);
  EXPECT_EQ(secrets::ClassifyKey("SUPER_SECRET_VALUES"), KeyKind::kToken);
  EXPECT_EQ(secrets::ClassifyKey("api_key_id"), KeyKind::kNone);
  EXPECT_EQ(secrets::ClassifyKey("token_url"), KeyKind::kNone);
  EXPECT_EQ(secrets::ClassifyKey("password_label"), KeyKind::kNone);
  EXPECT_EQ(secrets::ClassifyKey("forgot_password"), KeyKind::kNone);
  EXPECT_EQ(secrets::ClassifyKey("hashed_secret"), KeyKind::kNone);
  EXPECT_EQ(secrets::ClassifyKey("next_page_token"), KeyKind::kNone);
  EXPECT_EQ(secrets::ClassifyKey("author"), KeyKind::kNone);
  EXPECT_EQ(secrets::ClassifyKey("bypass"), KeyKind::kNone);
  EXPECT_EQ(secrets::ClassifyKey("foreign_key_id"), KeyKind::kNone);
}

TEST(SecretChecksTest, ParseAssignment) {
  {
    const std::string t = R"({"password": "s3cret!x", "n": 1})";
    const auto a = secrets::ParseAssignment(t, t.find("\"s3"));
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->key, "password");
    EXPECT_EQ(a->op, ":");
    EXPECT_EQ(a->quote, '"');
    EXPECT_EQ(t.substr(a->begin, a->end - a->begin), "s3cret!x");
  }
  {
    const std::string t = "  export DB_PASS=abc123 # staging\nnext";
    const auto a = secrets::ParseAssignment(t, t.find("abc"));
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->key, "DB_PASS");
    EXPECT_EQ(a->quote, 0);
    EXPECT_TRUE(a->line_start);
    EXPECT_TRUE(a->line_end);
    EXPECT_EQ(t.substr(a->begin, a->end - a->begin), "abc123");
  }
  {
    const std::string t = R"($password = \"goodspec\";)";
    const auto a = secrets::ParseAssignment(t, t.find('\\'));
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->key, "$password");
    EXPECT_EQ(t.substr(a->begin, a->end - a->begin), "goodspec");
  }
  {
    const std::string t = "key: !!binary QUJD\n";
    const auto a = secrets::ParseAssignment(t, t.find("QUJD"));
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->key, "key");
  }
  const std::string unterminated = "password = \"abc\ndef\"";
  EXPECT_FALSE(secrets::ParseAssignment(unterminated, unterminated.find('"')).has_value());
  EXPECT_FALSE(secrets::ParseAssignment("x", 5).has_value());
}

}  // namespace
}  // namespace airlock::classifier

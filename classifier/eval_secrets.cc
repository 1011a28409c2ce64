#include "classifier/eval_secrets.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "re2/re2.h"
#include "yaml-cpp/yaml.h"

namespace airlock::classifier {
namespace {

namespace fs = std::filesystem;

// ------------------------------------------------------------------------------- scope

// noseyparker providers (rule file names) that the built-in rules cover. The other files are
// reported as out of scope.
constexpr std::string_view kNoseyParkerInScope[] = {"adafruitio",
                                                    "adobe",
                                                    "age",
                                                    "anthropic",
                                                    "artifactory",
                                                    "atlassian",
                                                    "auth0",
                                                    "aws",
                                                    "azure",
                                                    "bitbucket",
                                                    "blynk",
                                                    "codeclimate",
                                                    "crates.io",
                                                    "databricks",
                                                    "dependency_track",
                                                    "digitalocean",
                                                    "django",
                                                    "dockerhub",
                                                    "doppler",
                                                    "dropbox",
                                                    "dynatrace",
                                                    "facebook",
                                                    "figma",
                                                    "firecrawl",
                                                    "generic",
                                                    "gitalk",
                                                    "github",
                                                    "gitlab",
                                                    "google",
                                                    "gradle",
                                                    "grafana",
                                                    "groq",
                                                    "hashes",
                                                    "hashicorp",
                                                    "heroku",
                                                    "http",
                                                    "huggingface",
                                                    "jenkins",
                                                    "jina",
                                                    "jwt",
                                                    "kagi",
                                                    "kubernetes",
                                                    "linkedin",
                                                    "mailchimp",
                                                    "mailgun",
                                                    "mapbox",
                                                    "microsoft_teams",
                                                    "mongo",
                                                    "nasa",
                                                    "netrc",
                                                    "newrelic",
                                                    "npm",
                                                    "nuget",
                                                    "odbc",
                                                    "okta",
                                                    "openai",
                                                    "particle.io",
                                                    "pem",
                                                    "phpmailer",
                                                    "postgres",
                                                    "postman",
                                                    "postmark",
                                                    "psexec",
                                                    "pypi",
                                                    "react",
                                                    "rubygems",
                                                    "salesforce",
                                                    "sauce",
                                                    "segment",
                                                    "sendgrid",
                                                    "shopify",
                                                    "slack",
                                                    "sonarqube",
                                                    "sourcegraph",
                                                    "square",
                                                    "stackhawk",
                                                    "stripe",
                                                    "tavily",
                                                    "teamcity",
                                                    "telegram",
                                                    "thingsboard",
                                                    "truenas",
                                                    "twilio",
                                                    "twitch",
                                                    "twitter",
                                                    "vmware",
                                                    "wireguard"};

// Rules of in-scope providers that find identifiers or public values, not secrets: their
// examples are not expected to be detected (their negatives still count).
struct OutOfScopeRule {
  std::string_view id;
  std::string_view why;
};
constexpr OutOfScopeRule kNoseyParkerOutOfScopeRules[] = {
    {"np.age.1", "age recipient: a public key"},
    {"np.aws.3", "AWS account id: an identifier"},
    {"np.s3.1", "S3 bucket name"},
    {"np.s3.2", "S3 bucket name"},
    {"np.arn.1", "AWS resource name"},
    {"np.github.5", "GitHub OAuth client id: an identifier"},
    {"np.google.1", "Google OAuth client id: an identifier"},
    {"np.gcs.1", "Cloud Storage bucket name"},
    {"np.gcs.2", "Cloud Storage bucket name"},
    {"np.linkedin.1", "LinkedIn client id: an identifier"},
    {"np.twitter.1", "Twitter client id: an identifier"},
    {"np.mapbox.1", "Mapbox pk. token: public by design"},
    {"np.reactapp.1", "a user name"},
    {"np.shopify.1", "a shop's domain name"},
};

// ------------------------------------------------------------------ detect-secrets labels

enum class Label { kSecret, kHerring, kAllowlisted };

struct Expectation {
  std::string_view file;  // relative to test_data
  int first_line;         // 1-based; 0 = the whole file
  int last_line;
  Label label;
  std::string_view note;
};

// How each was judged, from reading the files: a value is a real secret when it is credential
// material in the form a real one takes (a private key block, a provider-format key, a password
// or a generated value assigned to a name that says it is a secret, a password in a URL, a
// random 32+ character value assigned in a config file); a red herring when it is an id or a
// UUID by its name, a sequence of digits or letters, a short number, prose, a digest of a
// secret (detect-secrets' own baseline), or a value in a file that has none. Lines marked
// "pragma: allowlist secret" are the file author's accepted values: reported either way, not
// scored. Lines not listed hold nothing either way (comments, section headers, code).
constexpr Expectation kDetectSecretsExpectations[] = {
    {"baseline.file", 0, 0, Label::kHerring, "detect-secrets baseline: digests, plugin names"},
    {"config.env", 1, 1, Label::kSecret, "40-char random base64 assigned in an env file"},
    {"config.ini", 2, 2, Label::kSecret, "password = 123456789a1234"},
    {"config.ini", 6, 7, Label::kHerring, "keyA/keyB: a number and a word"},
    {"config.ini", 10, 10, Label::kHerring, "aws_secret_key = a 10-digit run, not a 40-char key"},
    {"config.ini", 13, 22, Label::kHerring, "multi-line values of keyA/keyB: numbers, words"},
    {"config.ini", 26, 26, Label::kAllowlisted, "password, pragma: allowlist secret"},
    {"config.ini", 29, 29, Label::kHerring, "foo=bår"},
    {"config.ini", 32, 32, Label::kSecret, "random value of real_secret_which_isnt_an_i_d"},
    {"config.ini", 33, 33, Label::kHerring, "same value under foreign_key_id: an id"},
    {"config.md", 8, 8, Label::kHerring, "ssh to server x:<digits>"},
    {"config.md", 10, 10, Label::kSecret, "key=\"<random 32 chars>\""},
    {"config.yaml", 2, 3, Label::kHerring, "not_secret, 1234567890a"},
    {"config.yaml", 5, 5, Label::kSecret, "AKIATESTTESTTESTTEST: AWS access key id format"},
    {"config.yaml", 6, 10, Label::kHerring, "abcdefghijklmnop, short numbers"},
    {"config.yaml", 12, 12, Label::kAllowlisted, "api key, pragma: allowlist secret"},
    {"config.yaml", 13, 13, Label::kSecret, "low_entropy_binary_secret: !!binary <base64>"},
    {"config.yaml", 16, 16, Label::kHerring, "allowlisted_id: an id by its name"},
    {"config.yaml", 18, 18, Label::kHerring, "a UUID"},
    {"config2.yaml", 2, 2, Label::kSecret, "high_entropy_hex_binary_secret: !!binary <base64>"},
    {"each_secret.py", 1, 1, Label::kHerring, "red_herring = 'DEADBEEF'"},
    {"each_secret.py", 2, 2, Label::kHerring, "id = <base64 of words>: an id by its name"},
    {"each_secret.py", 4, 4, Label::kSecret, "base64_secret"},
    {"each_secret.py", 5, 5, Label::kSecret, "hex_secret"},
    {"each_secret.py", 6, 6, Label::kSecret, "http://user:password@host"},
    {"each_secret.py", 8, 8, Label::kSecret, "AWS access key id (AWS's documented example)"},
    {"each_secret.py", 9, 9, Label::kSecret, "aws_secret_access_key"},
    {"files/__init__.py", 0, 0, Label::kHerring, "empty"},
    {"files/file_with_custom_secrets.py", 0, 0, Label::kHerring, "plain strings"},
    {"files/file_with_no_secrets.py", 0, 0, Label::kHerring, "plain strings"},
    {"files/file_with_secrets.py", 3, 3, Label::kSecret,
     "long base64 value of SUPER_SEECRET_VALUE"},
    {"files/file_with_secrets.py", 4, 4, Label::kAllowlisted, "pragma: allowlist secret"},
    {"files/private_key", 1, 3, Label::kSecret, "OPENSSH private key block"},
    {"files/tmp/__init__.py", 0, 0, Label::kHerring, "empty"},
    {"files/tmp/file_with_no_secrets.py", 0, 0, Label::kHerring, "prose in a *_SECRET_VALUE"},
    {"files/tmp/file_with_secrets.py", 3, 3, Label::kSecret, "hex values of SUPER_SECRET_VALUES"},
    {"only_comments.yaml", 0, 0, Label::kHerring, "comments only"},
    {"sample.diff", 10, 10, Label::kHerring, "\"012345678a\": a digit run in code"},
    {"sample.diff", 22, 22, Label::kHerring, "hex literal in code, no secret name"},
    {"sample.diff", 34, 34, Label::kHerring, "hex literal in code, no secret name"},
    {"sample.diff", 72, 72, Label::kHerring, "hashed_secret: a digest in a baseline"},
    {"short_files/first_line.php", 1, 1, Label::kSecret, "secret = 'notHighEnoughEntropy'"},
    {"short_files/first_line.php", 2, 4, Label::kHerring, "'0123456789a', prose"},
    {"short_files/last_line.ini", 3, 5, Label::kSecret, "values of secrets_for_no_one_to_find"},
    {"short_files/middle_line.yml", 4, 4, Label::kSecret, "password: secure: <value>"},
    {"word_list.txt", 0, 0, Label::kHerring, "a word list"},
};

// ----------------------------------------------------------------------------- helpers

bool ReadFile(const fs::path& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

std::string Fixed(double v, int digits = 3) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

// One line, at most `max` bytes, for the notes.
std::string OneLine(std::string_view text, size_t max = 70) {
  std::string s;
  for (char c : text) {
    if (s.size() >= max) {
      s += "...";
      break;
    }
    if (c == '\n') {
      s += "\\n";
    } else if (c == '\r' || c == '\t') {
      s += ' ';
    } else {
      s += c;
    }
  }
  return s;
}

// The secret findings of one text, scanned as one user message.
std::vector<Finding> SecretFindings(const Classifier& classifier, const std::string& text) {
  v1::ChatRequest request;
  auto* message = request.add_messages();
  message->set_role(v1::Message::USER);
  message->set_content(text);
  std::vector<Finding> out;
  for (Finding& f : classifier.Assess(request).findings) {
    if (f.category.starts_with("secret.")) out.push_back(std::move(f));
  }
  return out;
}

int LineOf(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + offset, '\n'));
}

std::string Ratio(int a, int b) { return absl::StrCat(a, "/", b); }

// ------------------------------------------------------------------------ noseyparker

struct NpRule {
  std::string id, name, provider;
  std::unique_ptr<RE2> re;  // noseyparker's own pattern; null when RE2 cannot compile it
  std::vector<std::string> examples, negatives;
};

absl::Status LoadNoseyParker(const fs::path& dir, std::vector<NpRule>* rules) {
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".yml") files.push_back(entry.path());
  }
  if (ec || files.empty()) {
    return absl::NotFoundError(absl::StrCat(dir.string(), ": no noseyparker rule files"));
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    YAML::Node root;
    try {
      root = YAML::LoadFile(file.string());
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(file.string(), ": ", e.what()));
    }
    const YAML::Node list = root["rules"];
    if (!list || !list.IsSequence()) {
      return absl::InvalidArgumentError(absl::StrCat(file.string(), ": no 'rules' list"));
    }
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node node = list[i];
      NpRule rule;
      rule.provider = file.stem().string();
      try {
        rule.id = node["id"].as<std::string>();
        rule.name = node["name"].as<std::string>();
        const std::string pattern = node["pattern"].as<std::string>();
        RE2::Options options;
        options.set_log_errors(false);
        options.set_max_mem(64 << 20);
        rule.re = std::make_unique<RE2>(NoseyParkerToRe2(pattern), options);
        if (!rule.re->ok()) rule.re.reset();
        for (const char* field : {"examples", "negative_examples"}) {
          const YAML::Node items = node[field];
          if (!items) continue;
          auto& into = std::string_view(field) == "examples" ? rule.examples : rule.negatives;
          for (const auto& item : items) into.push_back(item.as<std::string>());
        }
      } catch (const YAML::Exception& e) {
        return absl::InvalidArgumentError(
            absl::StrCat(file.string(), ": rule ", i, ": ", e.what()));
      }
      rules->push_back(std::move(rule));
    }
  }
  return absl::OkStatus();
}

absl::Status EvalNoseyParker(const Classifier& classifier, const std::string& data_dir,
                             EvalReport* report) {
  const fs::path dir = fs::path(data_dir) / "secrets" / "noseyparker-rules";
  std::vector<NpRule> rules;
  if (absl::Status s = LoadNoseyParker(dir, &rules); !s.ok()) return s;

  auto in_scope_provider = [](const std::string& provider) {
    return std::find(std::begin(kNoseyParkerInScope), std::end(kNoseyParkerInScope), provider) !=
           std::end(kNoseyParkerInScope);
  };
  auto out_of_scope_rule = [](const std::string& id) -> const OutOfScopeRule* {
    for (const OutOfScopeRule& r : kNoseyParkerOutOfScopeRules) {
      if (r.id == id) return &r;
    }
    return nullptr;
  };

  struct Row {
    int rules = 0, examples = 0, detected = 0, negatives = 0, flagged = 0, excluded = 0;
  };
  std::map<std::string, Row> rows;
  std::vector<std::string> misses, false_alarms, excluded_notes, out_rules;
  std::set<std::string> out_providers;
  int uncompiled = 0;
  Row total;
  for (const NpRule& rule : rules) {
    if (!rule.re) ++uncompiled;
    if (!in_scope_provider(rule.provider)) {
      out_providers.insert(rule.provider);
      continue;
    }
    Row& row = rows[rule.provider];
    const OutOfScopeRule* out = out_of_scope_rule(rule.id);
    if (out) {
      out_rules.push_back(absl::StrCat(rule.id, " (", std::string(out->why), ")"));
    } else {
      ++row.rules;
      for (const std::string& example : rule.examples) {
        ++row.examples;
        if (!SecretFindings(classifier, example).empty()) {
          ++row.detected;
        } else {
          misses.push_back(absl::StrCat(rule.id, ": ", OneLine(example)));
        }
      }
    }
    for (const std::string& negative : rule.negatives) {
      std::string other;
      for (const NpRule& r : rules) {
        if (&r != &rule && r.re && RE2::PartialMatch(negative, *r.re)) {
          other = r.id;
          break;
        }
      }
      const std::vector<Finding> found = SecretFindings(classifier, negative);
      if (!other.empty()) {
        ++row.excluded;
        excluded_notes.push_back(absl::StrCat(rule.id, " negative matched by ", other,
                                              found.empty() ? "" : " (and by us)"));
        continue;
      }
      ++row.negatives;
      if (!found.empty()) {
        ++row.flagged;
        false_alarms.push_back(
            absl::StrCat(rule.id, " -> ", found.front().category, ": ", OneLine(negative)));
      }
    }
  }

  EvalTable table;
  table.title = absl::StrCat("Secrets: noseyparker rules (", rules.size(), " rules in ",
                             rows.size() + out_providers.size(), " files)");
  table.header = {"provider", "rules", "examples found", "negatives flagged", "neg. excluded"};
  for (const auto& [provider, row] : rows) {
    table.rows.push_back({provider, absl::StrCat(row.rules), Ratio(row.detected, row.examples),
                          Ratio(row.flagged, row.negatives), absl::StrCat(row.excluded)});
    total.rules += row.rules;
    total.examples += row.examples;
    total.detected += row.detected;
    total.negatives += row.negatives;
    total.flagged += row.flagged;
    total.excluded += row.excluded;
  }
  const double recall = total.examples ? double(total.detected) / total.examples : 0;
  const double fp_rate = total.negatives ? double(total.flagged) / total.negatives : 0;
  table.rows.push_back({"all in scope", absl::StrCat(total.rules),
                        absl::StrCat(Ratio(total.detected, total.examples), " = ", Fixed(recall)),
                        absl::StrCat(Ratio(total.flagged, total.negatives), " = ", Fixed(fp_rate)),
                        absl::StrCat(total.excluded)});
  table.notes.push_back(
      "In scope: the providers listed above (the built-in rules cover them); an example is "
      "found when the text gives at least one secret.* finding.");
  table.notes.push_back(absl::StrCat(
      "Out of scope (no built-in rule): ",
      out_providers.empty() ? std::string("none")
                            : absl::StrJoin(out_providers.begin(), out_providers.end(), ", ")));
  table.notes.push_back(absl::StrCat("Out-of-scope rules of in-scope providers (not secrets): ",
                                     absl::StrJoin(out_rules, "; ")));
  table.notes.push_back(absl::StrCat(
      "Negatives excluded: matched by another noseyparker rule's own pattern, so secrets by the "
      "data set's account (",
      total.excluded, "; ", uncompiled, " noseyparker patterns do not compile in RE2)."));
  for (const std::string& m : misses) table.notes.push_back("missed  " + m);
  for (const std::string& f : false_alarms) table.notes.push_back("flagged " + f);
  for (const std::string& e : excluded_notes) table.notes.push_back("excluded " + e);
  report->tables.push_back(std::move(table));
  report->goals.push_back(GoalCheck{"secrets noseyparker examples recall", recall, 0.95, true});
  report->goals.push_back(
      GoalCheck{"secrets noseyparker negatives false-positive rate", fp_rate, 0.02, false});
  return absl::OkStatus();
}

// ---------------------------------------------------------------------- detect-secrets

absl::Status EvalDetectSecrets(const Classifier& classifier, const std::string& data_dir,
                               EvalReport* report) {
  const fs::path root = fs::path(data_dir) / "secrets" / "detect-secrets" / "test_data";
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(root, ec)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  if (ec || files.empty()) {
    return absl::NotFoundError(absl::StrCat(root.string(), ": no detect-secrets test files"));
  }
  std::sort(files.begin(), files.end());

  EvalTable table;
  table.title = absl::StrCat("Secrets: detect-secrets test_data (", files.size(), " files)");
  table.header = {"file", "findings", "categories", "secrets found", "herrings reported"};
  int secrets = 0, found = 0, herrings = 0, reported = 0;
  std::vector<std::string> notes;
  for (const fs::path& path : files) {
    const std::string rel = fs::relative(path, root).generic_string();
    std::string text;
    if (!ReadFile(path, &text))
      return absl::NotFoundError(absl::StrCat(path.string(), ": unreadable"));
    const std::vector<Finding> findings = SecretFindings(classifier, text);
    std::vector<std::pair<int, int>> lines;  // line range of each finding
    std::set<std::string> categories;
    for (const Finding& f : findings) {
      lines.emplace_back(LineOf(text, f.begin), LineOf(text, f.end > f.begin ? f.end - 1 : f.end));
      categories.insert(f.category.substr(7));
    }
    std::vector<bool> matched(findings.size(), false);
    int file_secrets = 0, file_found = 0, file_herrings = 0, file_reported = 0;
    for (const Expectation& e : kDetectSecretsExpectations) {
      if (e.file != rel) continue;
      bool hit = false;
      for (size_t i = 0; i < findings.size(); ++i) {
        const bool overlaps =
            e.first_line == 0 || (lines[i].first <= e.last_line && lines[i].second >= e.first_line);
        if (overlaps) {
          hit = true;
          matched[i] = true;
        }
      }
      const std::string where =
          absl::StrCat(rel, ":", e.first_line,
                       e.last_line != e.first_line ? absl::StrCat("-", e.last_line) : "");
      if (e.label == Label::kSecret) {
        ++file_secrets;
        if (hit) {
          ++file_found;
        } else {
          notes.push_back(absl::StrCat("missed secret   ", where, "  ", std::string(e.note)));
        }
      } else if (e.label == Label::kHerring) {
        ++file_herrings;
        if (hit) {
          ++file_reported;
          notes.push_back(absl::StrCat("herring reported ", where, "  ", std::string(e.note)));
        }
      }
    }
    for (size_t i = 0; i < findings.size(); ++i) {
      if (matched[i]) continue;
      notes.push_back(
          absl::StrCat("unlisted finding ", rel, ":", lines[i].first, "  ", findings[i].category));
    }
    secrets += file_secrets;
    found += file_found;
    herrings += file_herrings;
    reported += file_reported;
    table.rows.push_back({rel, absl::StrCat(findings.size()),
                          absl::StrJoin(categories.begin(), categories.end(), ","),
                          file_secrets ? Ratio(file_found, file_secrets) : "-",
                          file_herrings ? Ratio(file_reported, file_herrings) : "-"});
  }
  table.rows.push_back({"all", "", "", Ratio(found, secrets), Ratio(reported, herrings)});
  table.notes.push_back(
      "Expectations: kDetectSecretsExpectations in classifier/eval_secrets.cc (judged by reading "
      "each file); a secret is found, or a herring reported, when a finding touches its lines.");
  for (std::string& n : notes) table.notes.push_back(std::move(n));
  report->tables.push_back(std::move(table));
  // Floor: 15 of the 18 real secrets; the three misses are design limits listed in the notes.
  report->goals.push_back(GoalCheck{"secrets detect-secrets real secrets found",
                                    secrets ? double(found) / secrets : 0, 0.83, true});
  report->goals.push_back(
      GoalCheck{"secrets detect-secrets red herrings reported", double(reported), 0, false});
  return absl::OkStatus();
}

// ------------------------------------------------------------------------ ordinary text

size_t CountWords(std::string_view text) {
  size_t words = 0;
  bool in_word = false, has_alnum = false;
  for (size_t i = 0; i <= text.size(); ++i) {
    const char c = i < text.size() ? text[i] : ' ';
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (space) {
      if (in_word && has_alnum) ++words;
      in_word = has_alnum = false;
    } else {
      in_word = true;
      has_alnum |= std::isalnum(static_cast<unsigned char>(c)) != 0;
    }
  }
  return words;
}

absl::Status EvalOrdinary(const Classifier& classifier, const std::string& ordinary_dir,
                          EvalReport* report) {
  EvalTable table;
  table.title = "Secrets: false positives on ordinary text (prose, source code, logs)";
  table.header = {"file", "words", "secret findings", "per 10k words"};
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(ordinary_dir, ec)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  if (ec || files.empty()) {
    table.notes.push_back(absl::StrCat(ordinary_dir, ": no ordinary text; check left out"));
    report->tables.push_back(std::move(table));
    return absl::OkStatus();
  }
  std::sort(files.begin(), files.end());
  size_t words = 0, findings = 0;
  for (const fs::path& path : files) {
    std::string text;
    if (!ReadFile(path, &text))
      return absl::NotFoundError(absl::StrCat(path.string(), ": unreadable"));
    const size_t w = CountWords(text);
    const std::vector<Finding> found = SecretFindings(classifier, text);
    for (const Finding& f : found) {
      table.notes.push_back(absl::StrCat(
          "finding ", path.filename().string(), ":", LineOf(text, f.begin), "  ", f.category, " (",
          f.detector, "): ", OneLine(std::string_view(text).substr(f.begin, f.end - f.begin), 40)));
    }
    words += w;
    findings += found.size();
    table.rows.push_back({path.filename().string(), absl::StrCat(w), absl::StrCat(found.size()),
                          Fixed(w ? 1e4 * double(found.size()) / double(w) : 0, 2)});
  }
  const double per10k = words ? 1e4 * double(findings) / double(words) : 0;
  table.rows.push_back({"all", absl::StrCat(words), absl::StrCat(findings), Fixed(per10k, 2)});
  report->tables.push_back(std::move(table));
  report->goals.push_back(
      GoalCheck{"secrets ordinary text findings per 10k words", per10k, 1.0, false});
  return absl::OkStatus();
}

}  // namespace

std::string NoseyParkerToRe2(const std::string& p) {
  std::string out;
  bool x = false;
  size_t i = 0;
  while (i < p.size()) {
    const char c = p[i];
    if (p.compare(i, 3, "(?#") == 0) {
      const size_t close = p.find(')', i);
      i = close == std::string::npos ? p.size() : close + 1;
      continue;
    }
    if (p.compare(i, 2, "(?") == 0) {
      size_t k = i + 2;
      std::string flags;
      while (k < p.size() && std::isalpha(static_cast<unsigned char>(p[k]))) flags += p[k++];
      if (!flags.empty() && k < p.size() && (p[k] == ')' || p[k] == ':')) {
        const bool group = p[k] == ':';
        std::string kept;
        for (char f : flags) {
          if (f == 'x') {
            if (!group) x = true;
          } else {
            kept += f;
          }
        }
        if (group) {
          out += kept.empty() ? "(?:" : "(?" + kept + ":";
        } else if (!kept.empty()) {
          out += "(?" + kept + ")";
        }
        i = k + 1;
        continue;
      }
    }
    if (c == '\\' && i + 1 < p.size()) {
      const char n = p[i + 1];
      if (n == ' ') {
        out += "\\x20";
      } else if (n == '_') {
        out += '_';
      } else {
        out += c;
        out += n;
      }
      i += 2;
      continue;
    }
    if (c == '[') {
      size_t k = i + 1;
      if (k < p.size() && p[k] == '^') ++k;
      if (k < p.size() && p[k] == ']') ++k;
      while (k < p.size() && p[k] != ']') k += (p[k] == '\\' && k + 1 < p.size()) ? 2 : 1;
      std::string cls = p.substr(i, std::min(p.size(), k + 1) - i);
      std::string fixed;
      for (size_t m = 0; m < cls.size(); ++m) {
        if (cls[m] == '\\' && m + 1 < cls.size()) {
          if (cls[m + 1] == ' ') {
            fixed += "\\x20";
          } else if (cls[m + 1] == '_') {
            fixed += '_';
          } else {
            fixed += cls.substr(m, 2);
          }
          ++m;
        } else {
          fixed += cls[m];
        }
      }
      out += fixed;
      i = k + 1;
      continue;
    }
    if (x && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
      ++i;
      continue;
    }
    if (x && c == '#') {
      while (i < p.size() && p[i] != '\n') ++i;
      continue;
    }
    out += c;
    ++i;
  }
  // RE2 allows at most 1000 repetitions.
  std::string clamped;
  for (size_t k = 0; k < out.size(); ++k) {
    if (out[k] == '{' && k + 1 < out.size() &&
        std::isdigit(static_cast<unsigned char>(out[k + 1]))) {
      size_t e = k + 1;
      while (e < out.size() && (std::isdigit(static_cast<unsigned char>(out[e])) || out[e] == ','))
        ++e;
      if (e < out.size() && out[e] == '}') {
        std::string body = out.substr(k + 1, e - k - 1);
        std::string rebuilt;
        size_t start = 0;
        while (start <= body.size()) {
          const size_t comma = body.find(',', start);
          std::string num =
              body.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
          if (!num.empty() && (num.size() > 4 || std::stoi(num) > 1000)) num = "1000";
          rebuilt += num;
          if (comma == std::string::npos) break;
          rebuilt += ',';
          start = comma + 1;
        }
        clamped += "{" + rebuilt + "}";
        k = e;
        continue;
      }
    }
    clamped += out[k];
  }
  return clamped;
}

std::string DefaultOrdinaryTextDir() {
  // This file is <root>/classifier/eval_secrets.cc.
  const fs::path self(__FILE__);
  return (self.parent_path().parent_path() / "tests" / "data" / "classifier" / "ordinary").string();
}

absl::StatusOr<EvalReport> EvalSecretsWith(const Classifier& classifier,
                                           const std::string& data_dir,
                                           const std::string& ordinary_dir) {
  EvalReport report;
  if (absl::Status s = EvalNoseyParker(classifier, data_dir, &report); !s.ok()) return s;
  if (absl::Status s = EvalDetectSecrets(classifier, data_dir, &report); !s.ok()) return s;
  if (absl::Status s = EvalOrdinary(classifier, ordinary_dir, &report); !s.ok()) return s;
  return report;
}

absl::StatusOr<EvalReport> EvalSecrets(const Classifier& classifier, const std::string& data_dir) {
  return EvalSecretsWith(classifier, data_dir, DefaultOrdinaryTextDir());
}

}  // namespace airlock::classifier

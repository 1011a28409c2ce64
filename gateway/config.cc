#include "gateway/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace airlock::gateway {
namespace {

// absl in Debian 12 has its own string_view type.
absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Thrown inside this file only; ParseConfig turns it into an INVALID_ARGUMENT status.
struct ConfigError {
  std::string message;
};

class Ctx {
 public:
  Ctx(std::string file, std::string base_dir)
      : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

  [[noreturn]] void Fail(const YAML::Mark& mark, std::string_view path,
                         std::string_view what) const {
    int line = mark.line >= 0 ? mark.line + 1 : 1;
    int col = mark.column >= 0 ? mark.column + 1 : 1;
    throw ConfigError{absl::StrCat(file_, ":", line, ":", col, ": ", Sv(path), ": ", Sv(what))};
  }
  [[noreturn]] void Fail(const YAML::Node& node, std::string_view path,
                         std::string_view what) const {
    Fail(node.Mark(), path, what);
  }

  std::string Resolve(const std::string& p) const {
    std::filesystem::path path(p);
    if (path.is_absolute() || base_dir_.empty()) return path.lexically_normal().string();
    return (std::filesystem::path(base_dir_) / path).lexically_normal().string();
  }

 private:
  std::string file_;
  std::string base_dir_;
};

const char* KindOf(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    default:
      return "nothing";
  }
}

std::string Quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20) {
      out += "?";
    } else {
      out += c;
    }
  }
  out += "'";
  return out;
}

std::string Child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", Sv(key));
}
std::string Index(const std::string& path, size_t i) { return absl::StrCat(path, "[", i, "]"); }

const std::string& Scalar(const Ctx& ctx, const YAML::Node& n, const std::string& path,
                          std::string_view expected) {
  if (!n.IsScalar()) {
    ctx.Fail(n, path, absl::StrCat("expected ", Sv(expected), ", got ", KindOf(n)));
  }
  return n.Scalar();
}

std::string String(const Ctx& ctx, const YAML::Node& n, const std::string& path) {
  const std::string& s = Scalar(ctx, n, path, "a string");
  if (s.empty()) ctx.Fail(n, path, "must not be empty");
  return s;
}

int64_t Int(const Ctx& ctx, const YAML::Node& n, const std::string& path, int64_t min,
            int64_t max) {
  const std::string& s = Scalar(ctx, n, path, "a whole number");
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) {
    ctx.Fail(n, path, absl::StrCat(Quote(s), " is out of range (", min, " to ", max, ")"));
  }
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    ctx.Fail(n, path, absl::StrCat("expected a whole number, got ", Quote(s)));
  }
  if (v < min || v > max) {
    ctx.Fail(n, path, absl::StrCat(v, " is out of range (", min, " to ", max, ")"));
  }
  return v;
}

double Number(const Ctx& ctx, const YAML::Node& n, const std::string& path, double min,
              double max) {
  const std::string& s = Scalar(ctx, n, path, "a number");
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    ctx.Fail(n, path, absl::StrCat("expected a number, got ", Quote(s)));
  }
  if (!(v >= min && v <= max)) {
    ctx.Fail(n, path, absl::StrCat(s, " is out of range (", min, " to ", max, ")"));
  }
  return v;
}

bool Bool(const Ctx& ctx, const YAML::Node& n, const std::string& path) {
  const std::string& s = Scalar(ctx, n, path, "true or false");
  if (s == "true") return true;
  if (s == "false") return false;
  ctx.Fail(n, path, absl::StrCat("expected true or false, got ", Quote(s)));
}

// A duration in whole milliseconds (keys ending in _ms).
std::chrono::milliseconds Millis(const Ctx& ctx, const YAML::Node& n, const std::string& path,
                                 int64_t min) {
  constexpr int64_t kMax = int64_t{7} * 24 * 3600 * 1000;  // a week
  const std::string& s = Scalar(ctx, n, path, "a duration in milliseconds");
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    ctx.Fail(n, path,
             absl::StrCat("expected a duration in whole milliseconds (e.g. 2000), got ", Quote(s)));
  }
  if (v < min || v > kMax) {
    ctx.Fail(n, path,
             absl::StrCat("duration ", v, " ms is out of range (", min, " to ", kMax, " ms)"));
  }
  return std::chrono::milliseconds(v);
}

std::vector<std::string> StringList(const Ctx& ctx, const YAML::Node& n, const std::string& path) {
  if (!n.IsSequence()) ctx.Fail(n, path, absl::StrCat("expected a list, got ", KindOf(n)));
  std::vector<std::string> out;
  for (size_t i = 0; i < n.size(); ++i) out.push_back(String(ctx, n[i], Index(path, i)));
  return out;
}

// host:port with a numeric port in [0, 65535]; host may be a bracketed IPv6 address.
bool ValidHostPort(std::string_view s) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view host = s.substr(0, colon), port = s.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
  } else if (host.find(':') != std::string_view::npos) {
    return false;
  }
  int p = -1;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  return ec == std::errc() && end == port.data() + port.size() && !port.empty() && p >= 0 &&
         p <= 65535;
}

// Checks that `path` can be opened for reading and is not a folder.
void CheckReadable(const Ctx& ctx, const YAML::Node& n, const std::string& key,
                   const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ctx.Fail(n, key, absl::StrCat("cannot read ", Quote(path), ": ", std::strerror(errno)));
  }
  struct stat st {};
  bool dir = ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  ::close(fd);
  if (dir) ctx.Fail(n, key, absl::StrCat("cannot read ", Quote(path), ": is a directory"));
}

// A readable file path, resolved against the config's folder.
std::string FilePath(const Ctx& ctx, const YAML::Node& n, const std::string& key) {
  std::string path = ctx.Resolve(String(ctx, n, key));
  CheckReadable(ctx, n, key, path);
  return path;
}

std::string JoinKeys(std::initializer_list<std::string_view> keys) {
  std::string out;
  for (std::string_view k : keys) {
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out;
}

// A map whose keys are checked up front: each must be a known, non-duplicate scalar.
class MapReader {
 public:
  MapReader(const Ctx& ctx, const YAML::Node& node, std::string path,
            std::initializer_list<std::string_view> allowed)
      : ctx_(ctx), node_(node), path_(std::move(path)) {
    if (!node.IsMap()) {
      ctx.Fail(node, path_.empty() ? std::string("(top level)") : path_,
               absl::StrCat("expected a map, got ", KindOf(node)));
    }
    for (const auto& kv : node) {
      const YAML::Node key = kv.first;
      if (!key.IsScalar()) {
        ctx.Fail(key, path_.empty() ? std::string("(top level)") : path_,
                 absl::StrCat("keys must be strings, got ", KindOf(key)));
      }
      const std::string& name = key.Scalar();
      bool known = false;
      for (std::string_view a : allowed) known = known || a == name;
      if (!known) {
        ctx.Fail(key, Child(path_, name),
                 absl::StrCat("unknown key (expected one of: ", JoinKeys(allowed), ")"));
      }
      for (const Entry& e : entries_) {
        if (e.key == name) ctx.Fail(key, Child(path_, name), "duplicate key");
      }
      entries_.push_back({name, key.Mark(), kv.second});
    }
  }

  // The value of `key`, or nullptr when absent.
  const YAML::Node* Find(std::string_view key) const {
    for (const Entry& e : entries_) {
      if (e.key == key) {
        // A missing value's mark is the next token's, so it is reported at its key.
        if (e.value.IsNull()) ctx_.Fail(e.key_mark, Path(key), "has no value");
        return &e.value;
      }
    }
    return nullptr;
  }
  const YAML::Node& Required(std::string_view key) const {
    const YAML::Node* v = Find(key);
    if (v == nullptr) ctx_.Fail(node_, Path(key), "required key is missing");
    return *v;
  }
  std::string Path(std::string_view key) const { return Child(path_, key); }

  std::string RequiredString(std::string_view key) const {
    return String(ctx_, Required(key), Path(key));
  }
  void OptString(std::string_view key, std::string* out) const {
    if (const YAML::Node* v = Find(key)) *out = String(ctx_, *v, Path(key));
  }
  void OptFile(std::string_view key, std::string* out) const {
    if (const YAML::Node* v = Find(key)) *out = FilePath(ctx_, *v, Path(key));
  }
  template <typename T>
  void OptInt(std::string_view key, T* out, int64_t min, int64_t max) const {
    if (const YAML::Node* v = Find(key)) *out = static_cast<T>(Int(ctx_, *v, Path(key), min, max));
  }
  void OptMillis(std::string_view key, std::chrono::milliseconds* out, int64_t min) const {
    if (const YAML::Node* v = Find(key)) *out = Millis(ctx_, *v, Path(key), min);
  }
  // A string that must be one of `choices`.
  void OptChoice(std::string_view key, std::string* out,
                 std::initializer_list<std::string_view> choices) const {
    const YAML::Node* v = Find(key);
    if (v == nullptr) return;
    const std::string& s = String(ctx_, *v, Path(key));
    if (std::find(choices.begin(), choices.end(), s) == choices.end()) {
      ctx_.Fail(*v, Path(key), absl::StrCat(Quote(s), " is not one of: ", JoinKeys(choices)));
    }
    *out = s;
  }

 private:
  const Ctx& ctx_;
  const YAML::Node node_;
  std::string path_;
  struct Entry {
    std::string key;
    YAML::Mark key_mark;
    YAML::Node value;
  };
  std::vector<Entry> entries_;
};

bool IsHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool ValidTargetName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

std::string TrimLineEnd(std::string s) {
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
    s.pop_back();
  }
  return s;
}

TlsConfig ParseTls(const Ctx& ctx, const YAML::Node& n) {
  MapReader m(ctx, n, "tls", {"cert_file", "key_file", "client_ca_file"});
  TlsConfig tls;
  tls.cert_file = FilePath(ctx, m.Required("cert_file"), m.Path("cert_file"));
  tls.key_file = FilePath(ctx, m.Required("key_file"), m.Path("key_file"));
  m.OptFile("client_ca_file", &tls.client_ca_file);
  return tls;
}

struct MtlsUse {
  YAML::Mark mark;
  std::string path;
};

PrincipalConfig ParsePrincipal(const Ctx& ctx, const YAML::Node& n, const std::string& path,
                               std::vector<MtlsUse>* mtls) {
  MapReader m(ctx, n, path,
              {"tenant", "subject", "labels", "api_key_sha256", "mtls_subject", "mtls_san"});
  PrincipalConfig p;
  p.principal.tenant = m.RequiredString("tenant");
  p.principal.subject = m.RequiredString("subject");
  if (const YAML::Node* labels = m.Find("labels")) {
    std::string lpath = m.Path("labels");
    if (!labels->IsMap()) {
      ctx.Fail(*labels, lpath, absl::StrCat("expected a map, got ", KindOf(*labels)));
    }
    for (const auto& kv : *labels) {
      const YAML::Node k = kv.first, v = kv.second;
      std::string key = String(ctx, k, lpath);
      std::string kpath = Child(lpath, key);
      std::string value = Scalar(ctx, v, kpath, "a string");
      if (!p.principal.labels.emplace(key, std::move(value)).second) {
        ctx.Fail(k, kpath, "duplicate key");
      }
    }
  }
  if (const YAML::Node* v = m.Find("api_key_sha256")) {
    std::string hex = String(ctx, *v, m.Path("api_key_sha256"));
    if (!IsHex64(hex)) {
      ctx.Fail(*v, m.Path("api_key_sha256"),
               absl::StrCat("expected 64 hex digits (the SHA-256 of the key, e.g. from "
                            "`printf %s KEY | sha256sum`), got ",
                            hex.size(), " characters"));
    }
    p.api_key_sha256 = absl::AsciiStrToLower(hex);
  }
  if (const YAML::Node* v = m.Find("mtls_subject")) {
    p.mtls_subject = String(ctx, *v, m.Path("mtls_subject"));
    mtls->push_back({v->Mark(), m.Path("mtls_subject")});
  }
  if (const YAML::Node* v = m.Find("mtls_san")) {
    p.mtls_san = String(ctx, *v, m.Path("mtls_san"));
    mtls->push_back({v->Mark(), m.Path("mtls_san")});
  }
  if (p.api_key_sha256.empty() && p.mtls_subject.empty() && p.mtls_san.empty()) {
    ctx.Fail(n, path, "a principal needs api_key_sha256, mtls_subject or mtls_san");
  }
  return p;
}

TargetConfig ParseTarget(const Ctx& ctx, const YAML::Node& n, const std::string& path) {
  MapReader m(
      ctx, n, path,
      {"name", "kind", "base_url", "model", "api_key_env", "api_key_file", "ca_file", "clearance",
       "timeouts", "retries", "eject_after_failures", "eject_for_ms", "engine"});
  TargetConfig t;
  t.name = m.RequiredString("name");
  if (!ValidTargetName(t.name)) {
    ctx.Fail(m.Required("name"), m.Path("name"),
             absl::StrCat(Quote(t.name), " is not a valid name (1 to 64 of A-Z a-z 0-9 _ - .)"));
  }
  const YAML::Node& kind = m.Required("kind");
  t.kind = String(ctx, kind, m.Path("kind"));
  if (t.kind != "openai" && t.kind != "local") {
    ctx.Fail(kind, m.Path("kind"),
             absl::StrCat("unknown target kind ", Quote(t.kind), " (expected openai, local)"));
  }
  bool openai = t.kind == "openai";
  if (openai) {
    const YAML::Node& url = m.Required("base_url");
    t.base_url = String(ctx, url, m.Path("base_url"));
    std::string_view u = t.base_url;
    std::string_view rest;
    if (u.substr(0, 7) == "http://") {
      rest = u.substr(7);
    } else if (u.substr(0, 8) == "https://") {
      rest = u.substr(8);
    } else {
      ctx.Fail(url, m.Path("base_url"),
               absl::StrCat(Quote(t.base_url), " is not an http:// or https:// URL"));
    }
    if (rest.empty() || rest.front() == '/' || rest.front() == ':') {
      ctx.Fail(url, m.Path("base_url"), absl::StrCat(Quote(t.base_url), " has no host"));
    }
  } else if (const YAML::Node* url = m.Find("base_url")) {
    ctx.Fail(*url, m.Path("base_url"), "not allowed for kind local");
  }
  t.model = m.RequiredString("model");
  if (!openai) {  // the model's path: a Hugging Face folder or a file
    t.model = ctx.Resolve(t.model);
    std::error_code ec;
    if (!std::filesystem::exists(t.model, ec)) {
      ctx.Fail(m.Required("model"), m.Path("model"),
               absl::StrCat("no model at ", Quote(t.model),
                            ec ? absl::StrCat(": ", ec.message()) : std::string()));
    }
  }

  const YAML::Node* env = m.Find("api_key_env");
  const YAML::Node* file = m.Find("api_key_file");
  if (!openai && (env != nullptr || file != nullptr)) {
    ctx.Fail(env ? *env : *file, m.Path(env ? "api_key_env" : "api_key_file"),
             "not allowed for kind local");
  }
  if (env != nullptr && file != nullptr) {
    ctx.Fail(*file, m.Path("api_key_file"), "give api_key_env or api_key_file, not both");
  }
  if (env != nullptr) {
    std::string var = String(ctx, *env, m.Path("api_key_env"));
    const char* value = std::getenv(var.c_str());
    if (value == nullptr) {
      ctx.Fail(*env, m.Path("api_key_env"),
               absl::StrCat("environment variable ", Quote(var), " is not set"));
    }
    if (*value == '\0') {
      ctx.Fail(*env, m.Path("api_key_env"),
               absl::StrCat("environment variable ", Quote(var), " is empty"));
    }
    t.api_key = value;
  }
  if (file != nullptr) {
    std::string key_path = FilePath(ctx, *file, m.Path("api_key_file"));
    std::ifstream in(key_path, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    if (!in) {
      ctx.Fail(*file, m.Path("api_key_file"),
               absl::StrCat("cannot read ", Quote(key_path), ": ", std::strerror(errno)));
    }
    t.api_key = TrimLineEnd(buf.str());
    if (t.api_key.empty()) {
      ctx.Fail(*file, m.Path("api_key_file"), absl::StrCat(Quote(key_path), " is empty"));
    }
  }
  m.OptFile("ca_file", &t.ca_file);
  if (const YAML::Node* v = m.Find("clearance")) {
    const std::string& s = Scalar(ctx, *v, m.Path("clearance"), "a level");
    std::optional<classifier::Level> level = classifier::ParseLevel(s);
    if (!level) {
      ctx.Fail(*v, m.Path("clearance"),
               absl::StrCat("unknown level ", Quote(s),
                            " (expected public, internal, confidential, restricted)"));
    }
    t.clearance = *level;
  }
  if (const YAML::Node* v = m.Find("timeouts")) {
    MapReader tm(ctx, *v, m.Path("timeouts"), {"connect_ms", "first_byte_ms", "idle_ms"});
    tm.OptMillis("connect_ms", &t.connect_timeout, 1);
    tm.OptMillis("first_byte_ms", &t.first_byte_timeout, 1);
    tm.OptMillis("idle_ms", &t.idle_timeout, 1);
  }
  m.OptInt("retries", &t.retries, 0, 10);
  m.OptInt("eject_after_failures", &t.eject_after_failures, 1, 1000000);
  m.OptMillis("eject_for_ms", &t.eject_for, 0);
  if (const YAML::Node* v = m.Find("engine")) {
    if (openai) ctx.Fail(*v, m.Path("engine"), "only for kind local");
    MapReader em(ctx, *v, m.Path("engine"),
                 {"max_sequences", "max_queued", "max_context", "state_memory_mb", "step_tokens",
                  "threads", "device", "gpu"});
    TargetConfig::Engine& e = t.engine;
    em.OptInt("max_sequences", &e.max_sequences, 1, 4096);
    em.OptInt("max_queued", &e.max_queued, 0, 1000000);
    em.OptInt("max_context", &e.max_context, 1, int64_t{1} << 24);
    em.OptInt("state_memory_mb", &e.state_memory_mb, 1, int64_t{1} << 30);
    em.OptInt("step_tokens", &e.step_tokens, 1, 1 << 20);
    em.OptInt("threads", &e.threads, 0, 1024);
    em.OptChoice("device", &e.device, {"auto", "cpu", "cuda"});
    em.OptInt("gpu", &e.gpu, 0, 1023);
  }
  return t;
}

classifier::Level LevelAt(const Ctx& ctx, const YAML::Node& n, const std::string& path) {
  const std::string& s = Scalar(ctx, n, path, "a level");
  std::optional<classifier::Level> level = classifier::ParseLevel(s);
  if (!level) {
    ctx.Fail(n, path,
             absl::StrCat("unknown level ", Quote(s),
                          " (expected public, internal, confidential, restricted)"));
  }
  return *level;
}

ModelStageConfig ParseModelStage(const Ctx& ctx, const YAML::Node& n, const std::string& path) {
  MapReader m(ctx, n, path,
              {"target", "timeout_ms", "on_failure", "keep_prefill", "questions", "heads"});
  ModelStageConfig c;
  c.target = m.RequiredString("target");
  m.OptMillis("timeout_ms", &c.timeout, 1);
  if (const YAML::Node* v = m.Find("on_failure")) {
    const std::string& s = Scalar(ctx, *v, m.Path("on_failure"), "fail_closed or fail_open");
    if (s != "fail_closed" && s != "fail_open") {
      ctx.Fail(*v, m.Path("on_failure"),
               absl::StrCat("expected fail_closed or fail_open, got ", Quote(s)));
    }
    c.fail_closed = s == "fail_closed";
  }
  if (const YAML::Node* v = m.Find("keep_prefill")) {
    c.keep_prefill = Bool(ctx, *v, m.Path("keep_prefill"));
  }
  if (const YAML::Node* v = m.Find("heads")) {
    if (m.Find("questions")) ctx.Fail(*v, m.Path("heads"), "either heads or questions, not both");
    c.heads_file = FilePath(ctx, *v, m.Path("heads"));
    CheckReadable(ctx, *v, m.Path("heads"), c.heads_file);
  }
  if (const YAML::Node* v = m.Find("questions")) {
    if (!v->IsSequence() || v->size() == 0) {
      ctx.Fail(*v, m.Path("questions"), "expected a non-empty list of questions");
    }
    for (size_t i = 0; i < v->size(); ++i) {
      const std::string qp = Index(m.Path("questions"), i);
      MapReader qm(ctx, (*v)[i], qp, {"id", "kind", "text", "labels", "level"});
      classifier::ModelQuestion q;
      q.id = qm.RequiredString("id");
      const std::string kind = qm.RequiredString("kind");
      if (kind == "level") {
        q.kind = classifier::ModelQuestion::Kind::kLevel;
      } else if (kind == "difficulty") {
        q.kind = classifier::ModelQuestion::Kind::kDifficulty;
      } else if (kind == "category") {
        q.kind = classifier::ModelQuestion::Kind::kCategory;
      } else {
        ctx.Fail(qm.Required("kind"), qm.Path("kind"),
                 absl::StrCat("expected level, difficulty or category, got ", Quote(kind)));
      }
      q.text = qm.RequiredString("text");
      const YAML::Node& labels = qm.Required("labels");  // word: value, in order
      if (!labels.IsMap()) {
        ctx.Fail(labels, qm.Path("labels"),
                 absl::StrCat("expected a map of label words to values, got ", KindOf(labels)));
      }
      for (const auto& kv : labels) {
        const std::string& word = Scalar(ctx, kv.first, qm.Path("labels"), "a label word");
        for (const classifier::ModelLabel& l : q.labels) {
          if (l.word == word) ctx.Fail(kv.first, Child(qm.Path("labels"), word), "duplicate key");
        }
        q.labels.push_back({word, static_cast<float>(Number(
                                      ctx, kv.second, Child(qm.Path("labels"), word), -1e6, 1e6))});
      }
      if (const YAML::Node* l = qm.Find("level")) q.level = LevelAt(ctx, *l, qm.Path("level"));
      c.questions.push_back(std::move(q));
    }
  }
  return c;
}

Config Parse(const Ctx& ctx, const YAML::Node& root, const std::string& filename) {
  if (root.IsNull()) {
    ctx.Fail(YAML::Mark(), "(top level)",
             "the file is empty; expected a map with at least targets, policy and audit");
  }
  MapReader top(
      ctx, root, "",
      {"listen", "tls", "principals", "targets", "egress_allowlist", "policy", "policy_watch_ms",
       "audit", "limits", "metrics", "logging", "shutdown_grace_ms", "workers", "classifier"});
  Config c;
  c.path = filename;
  if (const YAML::Node* v = top.Find("listen")) {
    c.listen = String(ctx, *v, "listen");
    if (c.listen.rfind("unix:", 0) != 0 && !ValidHostPort(c.listen)) {
      ctx.Fail(*v, "listen",
               absl::StrCat("expected host:port or unix:PATH, got ", Quote(c.listen)));
    }
  }
  if (const YAML::Node* v = top.Find("tls")) c.tls = ParseTls(ctx, *v);

  std::vector<MtlsUse> mtls;
  if (const YAML::Node* v = top.Find("principals")) {
    if (!v->IsSequence()) {
      ctx.Fail(*v, "principals", absl::StrCat("expected a list, got ", KindOf(*v)));
    }
    for (size_t i = 0; i < v->size(); ++i) {
      std::string path = Index("principals", i);
      const YAML::Node& pn = (*v)[i];
      PrincipalConfig p = ParsePrincipal(ctx, pn, path, &mtls);
      if (!p.api_key_sha256.empty()) {
        for (size_t j = 0; j < c.principals.size(); ++j) {
          if (c.principals[j].api_key_sha256 == p.api_key_sha256) {
            ctx.Fail(pn["api_key_sha256"], Child(path, "api_key_sha256"),
                     absl::StrCat("the same key digest as principals[", j, "]"));
          }
        }
      }
      c.principals.push_back(std::move(p));
    }
  }

  if (const YAML::Node* v = top.Find("targets")) {
    if (!v->IsSequence()) {
      ctx.Fail(*v, "targets", absl::StrCat("expected a list, got ", KindOf(*v)));
    }
    if (v->size() == 0) ctx.Fail(*v, "targets", "at least one target is required");
    for (size_t i = 0; i < v->size(); ++i) {
      std::string path = Index("targets", i);
      TargetConfig t = ParseTarget(ctx, (*v)[i], path);
      for (size_t j = 0; j < c.targets.size(); ++j) {
        if (c.targets[j].name == t.name) {
          ctx.Fail(
              (*v)[i]["name"], Child(path, "name"),
              absl::StrCat("duplicate target name ", Quote(t.name), " (also targets[", j, "])"));
        }
      }
      c.targets.push_back(std::move(t));
    }
  }

  if (const YAML::Node* v = top.Find("egress_allowlist")) {
    c.egress_allowlist = StringList(ctx, *v, "egress_allowlist");
    for (size_t i = 0; i < c.egress_allowlist.size(); ++i) {
      const std::string& host = c.egress_allowlist[i];
      if (host.find_first_of("/ ") != std::string::npos) {
        ctx.Fail((*v)[i], Index("egress_allowlist", i),
                 absl::StrCat("expected a host name or address, not ", Quote(host)));
      }
    }
  }
  if (const YAML::Node* v = top.Find("policy"))
    c.policy_path = ctx.Resolve(String(ctx, *v, "policy"));

  if (const YAML::Node* v = top.Find("audit")) {
    MapReader m(ctx, *v, "audit",
                {"path", "fsync", "fsync_interval_ms", "hmac_key_file", "signing_key_file",
                 "segment_max_bytes", "segment_max_age_s", "checkpoint_every_records",
                 "checkpoint_interval_ms"});
    c.audit.path = ctx.Resolve(m.RequiredString("path"));
    if (const YAML::Node* f = m.Find("fsync")) {
      const std::string& s = Scalar(ctx, *f, "audit.fsync", "a string");
      if (s == "record") {
        c.audit.fsync = AuditConfig::Fsync::kEveryRecord;
      } else if (s == "batch") {
        c.audit.fsync = AuditConfig::Fsync::kBatch;
      } else if (s == "interval") {
        c.audit.fsync = AuditConfig::Fsync::kInterval;
      } else if (s == "never") {
        c.audit.fsync = AuditConfig::Fsync::kNever;
      } else {
        ctx.Fail(*f, "audit.fsync",
                 absl::StrCat("unknown fsync policy ", Quote(s),
                              " (expected record, batch, interval, never)"));
      }
    }
    m.OptMillis("fsync_interval_ms", &c.audit.fsync_interval, 1);
    m.OptFile("hmac_key_file", &c.audit.hmac_key_file);
    m.OptFile("signing_key_file", &c.audit.signing_key_file);
    m.OptInt("segment_max_bytes", &c.audit.segment_max_bytes, 4096, int64_t{1} << 40);
    int64_t max_age_s = c.audit.segment_max_age.count();
    m.OptInt("segment_max_age_s", &max_age_s, 0, int64_t{10} * 365 * 86400);
    c.audit.segment_max_age = std::chrono::seconds(max_age_s);
    m.OptInt("checkpoint_every_records", &c.audit.checkpoint_every_records, 1, int64_t{1} << 40);
    m.OptMillis("checkpoint_interval_ms", &c.audit.checkpoint_interval, 1);
  }

  if (const YAML::Node* v = top.Find("limits")) {
    MapReader m(ctx, *v, "limits",
                {"max_message_bytes", "max_concurrent_streams", "max_in_flight"});
    m.OptInt("max_message_bytes", &c.limits.max_message_bytes, 1024, 1 << 30);
    m.OptInt("max_concurrent_streams", &c.limits.max_concurrent_streams, 1, 1000000);
    m.OptInt("max_in_flight", &c.limits.max_in_flight, 1, 1000000);
  }
  if (const YAML::Node* v = top.Find("metrics")) {
    MapReader m(ctx, *v, "metrics", {"listen"});
    c.metrics_listen = m.RequiredString("listen");
    if (!ValidHostPort(c.metrics_listen)) {
      ctx.Fail(m.Required("listen"), "metrics.listen",
               absl::StrCat("expected host:port, got ", Quote(c.metrics_listen)));
    }
  }
  if (const YAML::Node* v = top.Find("logging")) {
    MapReader m(ctx, *v, "logging", {"level"});
    if (const YAML::Node* l = m.Find("level")) {
      c.log_level = String(ctx, *l, "logging.level");
      if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" &&
          c.log_level != "error") {
        ctx.Fail(*l, "logging.level",
                 absl::StrCat("unknown log level ", Quote(c.log_level),
                              " (expected debug, info, warn, error)"));
      }
    }
  }
  top.OptMillis("shutdown_grace_ms", &c.shutdown_grace, 0);
  top.OptMillis("policy_watch_ms", &c.policy_watch, 0);
  top.OptInt("workers", &c.workers, 1, 256);
  if (const YAML::Node* v = top.Find("classifier")) {
    MapReader m(ctx, *v, "classifier", {"model"});
    if (const YAML::Node* model = m.Find("model")) {
      c.model_stage = ParseModelStage(ctx, *model, "classifier.model");
      bool local = false;
      for (const TargetConfig& t : c.targets)
        local = local || (t.name == c.model_stage->target && t.kind == "local");
      if (!local) {
        ctx.Fail((*model)["target"], "classifier.model.target",
                 absl::StrCat("no target of kind local is named ", Quote(c.model_stage->target)));
      }
    }
  }

  // Cross-checks and required keys, after everything present has been checked.
  if (!mtls.empty() && (!c.tls || c.tls->client_ca_file.empty())) {
    ctx.Fail(mtls.front().mark, mtls.front().path,
             "needs tls.client_ca_file (client certificates are not requested without it)");
  }
  top.Required("targets");
  CheckReadable(ctx, top.Required("policy"), "policy", c.policy_path);
  top.Required("audit");
  return c;
}

}  // namespace

absl::StatusOr<Config> ParseConfig(const std::string& text, const std::string& filename,
                                   const std::string& base_dir) {
  Ctx ctx(filename, base_dir);
  try {
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
      ctx.Fail(e.mark, "syntax error", e.msg);
    }
    return Parse(ctx, root, filename);
  } catch (const ConfigError& e) {
    return absl::InvalidArgumentError(e.message);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(filename, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(filename, ": ", e.what()));
  }
}

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read the config file: ", std::strerror(errno)));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read the config file: ", std::strerror(errno)));
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  return ParseConfig(buf.str(), path, dir);
}

}  // namespace airlock::gateway

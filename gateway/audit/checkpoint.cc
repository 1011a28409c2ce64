#include "gateway/audit/checkpoint.h"

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace airlock::gateway {
namespace {

constexpr std::string_view kJsonl = ".jsonl";
constexpr std::string_view kCheckpoints = ".checkpoints.jsonl";

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Index of STEM.NNNNNN.jsonl, or -1.
int64_t SealedIndex(std::string_view name, std::string_view stem) {
  if (name.size() < stem.size() + 1 + 6 + kJsonl.size()) return -1;
  if (name.substr(0, stem.size()) != stem || name[stem.size()] != '.' || !EndsWith(name, kJsonl)) {
    return -1;
  }
  std::string_view digits =
      name.substr(stem.size() + 1, name.size() - stem.size() - 1 - kJsonl.size());
  if (digits.size() < 6 || digits.size() > 18) return -1;
  int64_t v = 0;
  for (char ch : digits) {
    if (ch < '0' || ch > '9') return -1;
    v = v * 10 + (ch - '0');
  }
  return v;
}

}  // namespace

std::string SanitizeCheckpointNote(std::string_view note) {
  std::string out(note.substr(0, 1000));
  for (char& ch : out) {
    if (ch < 0x20 || ch > 0x7e) ch = '?';
  }
  return out;
}

std::string CheckpointSignedBody(const AuditCheckpoint& c) {
  return absl::StrCat("airlock-audit-checkpoint/v1\nindex ", c.index, "\nsize ", c.size, "\nroot ",
                      HashToHex(c.root), "\ntime ", c.time, "\nprev ", HashToHex(c.prev),
                      "\nsegment ", c.segment, "\noffset ", c.offset, "\nreason ", c.reason,
                      "\nnote ", SanitizeCheckpointNote(c.note), "\nkey ", c.key_id, "\n");
}

Sha256Hash CheckpointHash(const AuditCheckpoint& c) { return Sha256(CheckpointSignedBody(c)); }

std::string EncodeCheckpoint(const AuditCheckpoint& c) {
  nlohmann::ordered_json j;
  j["index"] = c.index;
  j["size"] = c.size;
  j["root"] = HashToHex(c.root);
  j["time"] = c.time;
  j["prev"] = HashToHex(c.prev);
  j["segment"] = c.segment;
  j["offset"] = c.offset;
  j["reason"] = c.reason;
  j["note"] = SanitizeCheckpointNote(c.note);
  j["key"] = c.key_id;
  j["sig"] = absl::Base64Escape(c.signature);
  nlohmann::ordered_json frontier = nlohmann::ordered_json::array();
  for (const Sha256Hash& h : c.frontier) frontier.push_back(HashToHex(h));
  j["frontier"] = std::move(frontier);
  j["last_leaf"] = HashToHex(c.last_leaf);
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

absl::StatusOr<AuditCheckpoint> DecodeCheckpoint(std::string_view line) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint: not JSON: ", e.what()));
  }
  if (!j.is_object()) return absl::InvalidArgumentError("checkpoint: not a JSON object");
  AuditCheckpoint c;
  auto uint_field = [&](const char* key, uint64_t* out) -> absl::Status {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_unsigned()) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint: '", key, "' is missing or not an unsigned integer"));
    }
    *out = it->get<uint64_t>();
    return absl::OkStatus();
  };
  auto string_field = [&](const char* key, std::string* out) -> absl::Status {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint: '", key, "' is missing or not a string"));
    }
    *out = it->get<std::string>();
    return absl::OkStatus();
  };
  auto hash_field = [&](const char* key, Sha256Hash* out) -> absl::Status {
    std::string s;
    if (absl::Status st = string_field(key, &s); !st.ok()) return st;
    absl::StatusOr<Sha256Hash> h = HashFromHex(s, absl::StrCat("checkpoint '", key, "'"));
    if (!h.ok()) return h.status();
    *out = *h;
    return absl::OkStatus();
  };
  std::string sig_b64;
  for (absl::Status s :
       {uint_field("index", &c.index), uint_field("size", &c.size), hash_field("root", &c.root),
        string_field("time", &c.time), hash_field("prev", &c.prev),
        uint_field("segment", &c.segment), uint_field("offset", &c.offset),
        string_field("reason", &c.reason), string_field("note", &c.note),
        string_field("key", &c.key_id), string_field("sig", &sig_b64)}) {
    if (!s.ok()) return s;
  }
  if (!absl::Base64Unescape(sig_b64, &c.signature)) {
    return absl::InvalidArgumentError("checkpoint: 'sig' is not base64");
  }
  // Unsigned writer state: optional; malformed is treated as absent.
  if (auto it = j.find("frontier"); it != j.end() && it->is_array()) {
    for (const auto& h : *it) {
      if (!h.is_string()) break;
      absl::StatusOr<Sha256Hash> v = HashFromHex(h.get<std::string>(), "frontier");
      if (!v.ok()) {
        c.frontier.clear();
        break;
      }
      c.frontier.push_back(*v);
    }
  }
  if (auto it = j.find("last_leaf"); it != j.end() && it->is_string()) {
    if (absl::StatusOr<Sha256Hash> v = HashFromHex(it->get<std::string>(), "last_leaf"); v.ok()) {
      c.last_leaf = *v;
    }
  }
  return c;
}

AuditLogLayout AuditLogLayout::ForLivePath(const std::string& live_path) {
  std::filesystem::path p(live_path);
  AuditLogLayout l;
  l.dir = p.has_parent_path() ? p.parent_path().string() : std::string(".");
  std::string name = p.filename().string();
  l.stem = EndsWith(name, kJsonl) ? name.substr(0, name.size() - kJsonl.size()) : name;
  l.live = live_path;
  l.checkpoints = (std::filesystem::path(l.dir) / (l.stem + std::string(kCheckpoints))).string();
  return l;
}

absl::StatusOr<AuditLogLayout> AuditLogLayout::Resolve(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) {
    if (!std::filesystem::exists(path, ec)) {
      // A log whose live segment is gone may still have checkpoints and sealed segments.
      AuditLogLayout l = ForLivePath(path);
      if (!std::filesystem::exists(l.checkpoints, ec)) {
        return absl::NotFoundError(absl::StrCat("audit log ", path, ": no such file or folder"));
      }
      return l;
    }
    return ForLivePath(path);
  }
  std::vector<std::string> stems, segments;
  for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
    std::string name = e.path().filename().string();
    if (EndsWith(name, kCheckpoints)) {
      stems.push_back(name.substr(0, name.size() - kCheckpoints.size()));
    } else if (EndsWith(name, kJsonl)) {
      segments.push_back(name);
    }
  }
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit log folder ", path, ": cannot list: ", ec.message()));
  }
  if (stems.size() == 1) {
    return ForLivePath((std::filesystem::path(path) / (stems[0] + std::string(kJsonl))).string());
  }
  if (stems.empty() && segments.size() == 1) {
    return ForLivePath((std::filesystem::path(path) / segments[0]).string());
  }
  return absl::InvalidArgumentError(
      absl::StrCat("audit log folder ", path, ": ",
                   stems.empty() ? "holds no audit log (no *.checkpoints.jsonl)"
                                 : "holds several audit logs; name the live segment instead"));
}

std::string AuditLogLayout::Sealed(uint64_t index) const {
  std::string digits = std::to_string(index);
  if (digits.size() < 6) digits.insert(0, 6 - digits.size(), '0');
  return (std::filesystem::path(dir) / absl::StrCat(stem, ".", digits, std::string(kJsonl)))
      .string();
}

absl::StatusOr<std::vector<AuditLogLayout::Segment>> AuditLogLayout::ListSegments() const {
  std::vector<Segment> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    int64_t index = SealedIndex(e.path().filename().string(), stem);
    if (index >= 0) out.push_back({static_cast<uint64_t>(index), e.path().string(), false});
  }
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit log folder ", dir, ": cannot list: ", ec.message()));
  }
  std::sort(out.begin(), out.end(),
            [](const Segment& a, const Segment& b) { return a.index < b.index; });
  if (std::filesystem::exists(live, ec)) {
    out.push_back({out.empty() ? 0 : out.back().index + 1, live, true});
  }
  return out;
}

bool ParseRecordFrame(std::string_view line, RecordFrame* out) {
  constexpr std::string_view kHead = "{\"seq\":";
  constexpr std::string_view kTail = ",\"prev\":\"";
  if (line.size() < kHead.size() + 1 + kTail.size() + 64 + 2) return false;
  if (line.substr(0, kHead.size()) != kHead) return false;
  const char* begin = line.data() + kHead.size();
  const char* end = line.data() + line.size();
  uint64_t seq = 0;
  auto [ptr, ec] = std::from_chars(begin, end, seq);
  if (ec != std::errc() || ptr == begin || *ptr != ',') return false;
  if (*begin == '0' && ptr - begin > 1) return false;  // no leading zeros
  std::string_view tail = line.substr(line.size() - kTail.size() - 64 - 2);
  if (tail.substr(0, kTail.size()) != kTail || tail.substr(kTail.size() + 64) != "\"}") {
    return false;
  }
  std::string_view hex = tail.substr(kTail.size(), 64);
  for (char ch : hex) {
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return false;
  }
  out->seq = seq;
  out->prev_hex = hex;
  return true;
}

}  // namespace airlock::gateway

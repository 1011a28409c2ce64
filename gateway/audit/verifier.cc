#include "gateway/audit/verifier.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace airlock::gateway {
namespace {

absl::StatusOr<std::string> ReadWhole(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  std::string out;
  off_t size = ::lseek(fd, 0, SEEK_END);
  if (size > 0) out.reserve(static_cast<size_t>(size));
  char buf[1 << 16];
  off_t pos = 0;
  while (true) {
    ssize_t n = ::pread(fd, buf, sizeof(buf), pos);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string err = std::strerror(errno);
      ::close(fd);
      return absl::InternalError(absl::StrCat(path, ": read: ", err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    pos += n;
  }
  ::close(fd);
  return out;
}

std::string Name(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

// A line of a segment with where it lies.
struct Line {
  std::string_view text;
  uint64_t offset;
};

class Verifier {
 public:
  Verifier(const AuditLogLayout& layout, const AuditKeyRing& keys,
           const AuditVerifyOptions& options, AuditVerifyResult* r)
      : layout_(layout), keys_(keys), options_(options), r_(*r) {}

  absl::Status Run() {
    r_.log = layout_.live;
    if (absl::Status s = ReadCheckpoints(); !s.ok()) return s;
    return ReadRecords();
  }

 private:
  void Problem(std::string kind, const std::string& file, uint64_t offset, int64_t seq,
               std::string message) {
    r_.problems.push_back({std::move(kind), file, offset, seq, std::move(message)});
  }

  absl::Status ReadCheckpoints() {
    std::error_code ec;
    if (!std::filesystem::exists(layout_.checkpoints, ec)) {
      Problem("missing-checkpoint", layout_.checkpoints, 0, -1,
              "the checkpoints file is missing: no record can be shown to be authentic");
      return absl::OkStatus();
    }
    absl::StatusOr<std::string> data = ReadWhole(layout_.checkpoints);
    if (!data.ok()) return data.status();
    std::string_view rest(*data);
    uint64_t offset = 0;
    uint64_t line_no = 0;
    std::optional<AuditCheckpoint> prev;  // the line before, when it parsed
    bool prev_parsed = true;
    std::string last_key;
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      if (nl == std::string_view::npos) {
        Problem("torn-tail", layout_.checkpoints, offset, -1,
                absl::StrCat("the checkpoints file ends inside a line (", rest.size(),
                             " bytes): a crash while a checkpoint was written, or damage"));
        break;
      }
      std::string_view text = rest.substr(0, nl);
      ++line_no;
      ++r_.checkpoints;
      absl::StatusOr<AuditCheckpoint> c = DecodeCheckpoint(text);
      const std::string where = absl::StrCat("checkpoint line ", line_no);
      if (!c.ok()) {
        Problem("modified", layout_.checkpoints, offset, -1,
                absl::StrCat(where, " is not a checkpoint: ", c.status().message()));
        prev.reset();
        prev_parsed = false;
      } else {
        bool good = true;
        const uint64_t want_index = prev ? prev->index + 1 : line_no - 1;
        if (prev_parsed && c->index != want_index) {
          good = false;
          if (c->index > want_index) {
            Problem(
                "missing-checkpoint", layout_.checkpoints, offset, -1,
                absl::StrCat(
                    where, " is checkpoint ", c->index, "; checkpoint",
                    c->index - want_index > 1 ? "s " : " ", want_index,
                    c->index - want_index > 1 ? absl::StrCat("..", c->index - 1) : std::string(),
                    " before it ", c->index - want_index > 1 ? "are" : "is", " missing (deleted)"));
          } else {
            Problem("reordered", layout_.checkpoints, offset, -1,
                    absl::StrCat(where, " is checkpoint ", c->index, " where ", want_index,
                                 " was expected"));
          }
        } else if (prev_parsed) {
          const Sha256Hash want_prev = prev ? CheckpointHash(*prev) : Sha256Hash{};
          if (c->prev != want_prev) {
            good = false;
            Problem(prev ? "modified" : "missing-checkpoint", layout_.checkpoints, offset, -1,
                    prev ? absl::StrCat(where, " (checkpoint ", c->index,
                                        ") does not commit to the checkpoint before it: that "
                                        "one was altered or replaced")
                         : absl::StrCat(where, " (checkpoint ", c->index,
                                        ") commits to an earlier checkpoint that is missing"));
          }
        }
        if (absl::Status s = keys_.Verify(c->key_id, CheckpointSignedBody(*c), c->signature);
            !s.ok()) {
          good = false;
          if (!keys_.Has(c->key_id)) {
            Problem("wrong-key", layout_.checkpoints, offset, -1,
                    absl::StrCat(where, " (checkpoint ", c->index, ") is signed by key ", c->key_id,
                                 ", which is not among the trusted keys"));
          } else {
            Problem("bad-signature", layout_.checkpoints, offset, -1,
                    absl::StrCat(where, " (checkpoint ", c->index, "): the signature by key ",
                                 c->key_id, " does not verify: the checkpoint was altered"));
          }
        }
        if (good && !trusted_.empty() && c->size < trusted_.back().size) {
          good = false;
          Problem("inconsistent-checkpoint", layout_.checkpoints, offset, -1,
                  absl::StrCat(where, " (checkpoint ", c->index, ") has tree size ", c->size,
                               ", smaller than the ", trusted_.back().size, " of checkpoint ",
                               trusted_.back().index));
        }
        if (good) {
          if (!last_key.empty() && last_key != c->key_id) {
            r_.notes.push_back(absl::StrCat("signing key rotated from ", last_key, " to ",
                                            c->key_id, " at checkpoint ", c->index));
          }
          last_key = c->key_id;
          r_.key_ids.insert(c->key_id);
          if (c->reason == "recovery" && !c->note.empty()) {
            r_.notes.push_back(
                absl::StrCat("checkpoint ", c->index, " (", c->time, "): ", c->note));
          }
          trusted_.push_back(*c);
          trusted_offsets_.push_back(offset);
        }
        prev = std::move(*c);
        prev_parsed = true;
      }
      offset += nl + 1;
      rest.remove_prefix(nl + 1);
    }
    return absl::OkStatus();
  }

  // Checks the trusted checkpoints whose size the tree has now reached.
  bool CheckCheckpoints(uint64_t segment, uint64_t offset, const std::string& file) {
    while (next_cp_ < trusted_.size() && trusted_[next_cp_].size == tree_.size()) {
      const AuditCheckpoint& c = trusted_[next_cp_];
      const uint64_t first = r_.verified;
      if (c.root != tree_.Root() && prev_line_ && c.last_leaf != last_leaf_) {
        // The chain cannot show an altered last record (nothing chains to it yet); the
        // writer's note of its leaf hash does.
        Problem("modified", prev_file_, prev_line_->offset, static_cast<int64_t>(c.size - 1),
                absl::StrCat("record ", c.size - 1, " at byte ", prev_line_->offset, " of ",
                             Name(prev_file_), " was altered (checkpoint ", c.index,
                             " signed another version of it)"));
        return false;
      }
      if (c.root != tree_.Root()) {
        Problem("inconsistent-checkpoint", layout_.checkpoints, trusted_offsets_[next_cp_],
                tree_.size() == 0 ? -1 : static_cast<int64_t>(tree_.size() - 1),
                absl::StrCat("checkpoint ", c.index, " signs a tree of ", c.size,
                             " records whose root differs from that of the records (which chain "
                             "correctly): records ",
                             first, "..", c.size == 0 ? 0 : c.size - 1,
                             " were rewritten, or the checkpoint does not extend the earlier "
                             "ones"));
        return false;
      }
      if (c.segment != segment || c.offset != offset) {
        Problem("inconsistent-checkpoint", layout_.checkpoints, trusted_offsets_[next_cp_], -1,
                absl::StrCat("checkpoint ", c.index, " says record ", c.size - 1, " ends at byte ",
                             c.offset, " of segment ", c.segment, "; it ends at byte ", offset,
                             " of ", Name(file), " (segment ", segment, ")"));
        return false;
      }
      r_.verified = c.size;
      r_.verified_at = c;
      r_.good_checkpoints.push_back(c);
      ++next_cp_;
    }
    return true;
  }

  // True when a trusted checkpoint marks a crash recovery at exactly this point.
  bool RecoveredAt(uint64_t segment, uint64_t offset) const {
    for (const AuditCheckpoint& c : trusted_) {
      if (c.reason == "recovery" && c.segment == segment && c.offset == offset) return true;
    }
    return false;
  }

  absl::Status ReadRecords() {
    absl::StatusOr<std::vector<AuditLogLayout::Segment>> segments = layout_.ListSegments();
    if (!segments.ok()) return segments.status();
    uint64_t want_index = 0;
    uint64_t expected = 0;
    Sha256Hash last_leaf{};
    std::string last_file = layout_.live;
    uint64_t last_offset = 0, last_segment = 0;
    std::optional<Line> torn;
    std::string torn_file;
    // Checkpoints of an empty tree.
    if (!CheckCheckpoints(segments->empty() ? 0 : segments->front().index, 0, layout_.live)) {
      return absl::OkStatus();
    }
    for (const AuditLogLayout::Segment& seg : *segments) {
      ++r_.segments;
      if (seg.index != want_index) {
        Problem("missing-segment", Name(seg.path) == Name(layout_.live) ? layout_.live : seg.path,
                0, static_cast<int64_t>(expected),
                absl::StrCat("segment", seg.index - want_index > 1 ? "s " : " ",
                             Name(layout_.Sealed(want_index)),
                             seg.index - want_index > 1
                                 ? absl::StrCat("..", Name(layout_.Sealed(seg.index - 1)))
                                 : std::string(),
                             " before ", Name(seg.path), " ",
                             seg.index - want_index > 1 ? "are" : "is", " missing"));
        return absl::OkStatus();
      }
      ++want_index;
      absl::StatusOr<std::string> data = ReadWhole(seg.path);
      if (!data.ok()) return data.status();
      std::vector<Line> lines;
      std::string_view rest(*data);
      uint64_t offset = 0;
      std::optional<Line> partial;
      while (!rest.empty()) {
        size_t nl = rest.find('\n');
        if (nl == std::string_view::npos) {
          partial = Line{rest, offset};
          break;
        }
        lines.push_back({rest.substr(0, nl), offset});
        offset += nl + 1;
        rest.remove_prefix(nl + 1);
      }
      for (size_t i = 0; i < lines.size(); ++i) {
        const Line& line = lines[i];
        RecordFrame frame;
        if (!ParseRecordFrame(line.text, &frame)) {
          Problem("modified", seg.path, line.offset, static_cast<int64_t>(expected),
                  absl::StrCat("the line at byte ", line.offset, " of ", Name(seg.path),
                               " (where record ", expected, " belongs) is not an audit record"));
          return absl::OkStatus();
        }
        if (frame.seq != expected) {
          bool later = false;
          for (size_t j = i + 1; j < lines.size() && j < i + 16; ++j) {
            RecordFrame f;
            if (ParseRecordFrame(lines[j].text, &f) && f.seq == expected) later = true;
          }
          if (later || frame.seq < expected) {
            Problem("reordered", seg.path, line.offset, static_cast<int64_t>(frame.seq),
                    absl::StrCat("record ", frame.seq, " at byte ", line.offset, " of ",
                                 Name(seg.path), " is where record ", expected, " belongs"));
          } else {
            Problem(i == 0 && seg.index > 0 ? "missing-segment" : "missing", seg.path, line.offset,
                    static_cast<int64_t>(expected),
                    absl::StrCat(frame.seq - expected == 1 ? "record " : "records ", expected,
                                 frame.seq - expected == 1 ? std::string()
                                                           : absl::StrCat("..", frame.seq - 1),
                                 frame.seq - expected == 1 ? " is" : " are",
                                 " missing before byte ", line.offset, " of ", Name(seg.path),
                                 i == 0 && seg.index > 0 ? " (a whole segment deleted?)" : ""));
          }
          return absl::OkStatus();
        }
        const Sha256Hash leaf = MerkleLeafHash(line.text);
        if (frame.prev_hex != HashToHex(last_leaf)) {
          // Either the record before was altered (its hash changed), or this one's `prev`
          // was: the record after this one tells which.
          bool this_one = true;
          if (expected > 0) {
            if (i + 1 < lines.size()) {
              RecordFrame next;
              this_one =
                  !(ParseRecordFrame(lines[i + 1].text, &next) && next.prev_hex == HashToHex(leaf));
            } else {
              for (const AuditCheckpoint& c : trusted_) {
                if (c.size == expected + 1 && c.last_leaf == leaf) this_one = false;
              }
            }
          }
          if (this_one || !prev_line_) {
            Problem("modified", seg.path, line.offset, static_cast<int64_t>(expected),
                    absl::StrCat("record ", expected, " at byte ", line.offset, " of ",
                                 Name(seg.path), " was altered (its prev does not match)"));
          } else {
            Problem("modified", prev_file_, prev_line_->offset, static_cast<int64_t>(expected - 1),
                    absl::StrCat("record ", expected - 1, " at byte ", prev_line_->offset, " of ",
                                 Name(prev_file_),
                                 " was altered (its hash is not what the next record chains to)"));
          }
          return absl::OkStatus();
        }
        last_leaf = leaf;
        last_leaf_ = leaf;
        tree_.AppendLeafHash(leaf);
        if (options_.keep_leaves) r_.leaves.push_back(leaf);
        if (options_.keep_line == static_cast<int64_t>(expected)) r_.line = std::string(line.text);
        ++expected;
        ++r_.records;
        prev_line_ = line;
        prev_file_ = seg.path;
        if (!CheckCheckpoints(seg.index, line.offset + line.text.size() + 1, seg.path)) {
          return absl::OkStatus();
        }
      }
      last_file = seg.path;
      last_offset = offset;
      last_segment = seg.index;
      if (partial) {
        if (seg.live) {
          torn = partial;
          torn_file = seg.path;
        } else if (RecoveredAt(seg.index, partial->offset)) {
          // A crash's torn tail, left in place and reported by the recovery checkpoint.
        } else {
          Problem("truncated", seg.path, partial->offset, static_cast<int64_t>(expected),
                  absl::StrCat("sealed segment ", Name(seg.path),
                               " ends inside a record: ", partial->text.size(), " bytes at byte ",
                               partial->offset, " are not a complete record"));
          return absl::OkStatus();
        }
      }
    }
    // Checkpoints that cover more than the log holds.
    if (next_cp_ < trusted_.size()) {
      const AuditCheckpoint& c = trusted_[next_cp_];
      const bool gone = segments->empty() || c.segment > last_segment;
      Problem(gone ? "missing-segment" : "truncated", last_file, last_offset,
              static_cast<int64_t>(tree_.size()),
              absl::StrCat(
                  "checkpoint ", c.index, " signed ", c.size, " records but the log ", "holds ",
                  tree_.size(), ": records ", tree_.size(), "..", c.size - 1, " are missing",
                  gone ? absl::StrCat(" (segment ", c.segment, " is gone)")
                       : absl::StrCat(" (", Name(last_file), " ends at byte ", last_offset, ")")));
      return absl::OkStatus();
    }
    if (tree_.size() > r_.verified) {
      Problem("unsigned-tail", prev_file_, 0, static_cast<int64_t>(r_.verified),
              absl::StrCat(tree_.size() - r_.verified == 1 ? "record " : "records ", r_.verified,
                           tree_.size() - r_.verified == 1 ? std::string()
                                                           : absl::StrCat("..", tree_.size() - 1),
                           " ", tree_.size() - r_.verified == 1 ? "is" : "are",
                           " not covered by any signed checkpoint (a crash or a live log; or "
                           "appended by someone else)"));
      // Where the unsigned records begin.
      r_.problems.back().offset =
          r_.verified_at && r_.verified_at->segment == last_segment ? r_.verified_at->offset : 0;
    }
    if (torn) {
      Problem("torn-tail", torn_file, torn->offset, static_cast<int64_t>(expected),
              absl::StrCat(Name(torn_file), " ends inside a record: ", torn->text.size(),
                           " bytes at byte ", torn->offset,
                           " (a crash while writing; the writer seals it on restart)"));
    }
    return absl::OkStatus();
  }

  const AuditLogLayout& layout_;
  const AuditKeyRing& keys_;
  const AuditVerifyOptions& options_;
  AuditVerifyResult& r_;
  std::vector<AuditCheckpoint> trusted_;
  std::vector<uint64_t> trusted_offsets_;
  size_t next_cp_ = 0;
  MerkleTree tree_;
  Sha256Hash last_leaf_{};
  std::optional<Line> prev_line_;
  std::string prev_file_;
};

nlohmann::ordered_json CheckpointJson(const AuditCheckpoint& c) {
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(EncodeCheckpoint(c));
  j.erase("frontier");
  j.erase("last_leaf");
  return j;
}

nlohmann::ordered_json HashesJson(const std::vector<Sha256Hash>& hs) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (const Sha256Hash& h : hs) a.push_back(HashToHex(h));
  return a;
}

// The checkpoint inside a proof, its signature checked.
absl::StatusOr<AuditCheckpoint> ProofCheckpoint(const nlohmann::json& j, const char* key,
                                                const AuditKeyRing& keys) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("proof: no '", key, "' object"));
  }
  absl::StatusOr<AuditCheckpoint> c = DecodeCheckpoint(it->dump());
  if (!c.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("proof: ", key, ": ", c.status().message()));
  }
  if (absl::Status s = keys.Verify(c->key_id, CheckpointSignedBody(*c), c->signature); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("proof: ", key, ": ", s.message()));
  }
  return c;
}

absl::StatusOr<std::vector<Sha256Hash>> HashList(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) {
    return absl::InvalidArgumentError(absl::StrCat("proof: no '", key, "' array"));
  }
  std::vector<Sha256Hash> out;
  for (const auto& h : *it) {
    if (!h.is_string()) return absl::InvalidArgumentError("proof: a path element is not a string");
    absl::StatusOr<Sha256Hash> v = HashFromHex(h.get<std::string>(), "proof path element");
    if (!v.ok()) return v.status();
    out.push_back(*v);
  }
  return out;
}

absl::StatusOr<Sha256Hash> HashField(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("proof: no '", key, "' string"));
  }
  return HashFromHex(it->get<std::string>(), absl::StrCat("proof ", key));
}

absl::StatusOr<uint64_t> UintField(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) {
    return absl::InvalidArgumentError(absl::StrCat("proof: no unsigned integer '", key, "'"));
  }
  return it->get<uint64_t>();
}

}  // namespace

absl::StatusOr<AuditVerifyResult> VerifyAuditLog(const AuditLogLayout& layout,
                                                 const AuditKeyRing& keys,
                                                 const AuditVerifyOptions& options) {
  AuditVerifyResult r;
  Verifier v(layout, keys, options, &r);
  if (absl::Status s = v.Run(); !s.ok()) return s;
  return r;
}

std::string AuditVerifyResult::Summary() const {
  std::string out;
  if (verified_at) {
    absl::StrAppend(&out, "intact up to record ", verified - 1, " at checkpoint ",
                    verified_at->index, " (", verified_at->time, ", key ", verified_at->key_id,
                    ")\n");
  } else {
    absl::StrAppend(&out, "no record is covered by a verified checkpoint\n");
  }
  absl::StrAppend(
      &out, records, " records read in ", segments, " segment", segments == 1 ? "" : "s", ", ",
      checkpoints, " checkpoint", checkpoints == 1 ? "" : "s", "; ",
      problems.empty() ? "no problems"
                       : absl::StrCat(problems.size(), " problem", problems.size() == 1 ? "" : "s"),
      "\n");
  for (const AuditProblem& p : problems) {
    absl::StrAppend(&out, p.kind, ": ", p.file, " byte ", p.offset,
                    p.seq >= 0 ? absl::StrCat(" (record ", p.seq, ")") : std::string(), ": ",
                    p.message, "\n");
  }
  for (const std::string& n : notes) absl::StrAppend(&out, "note: ", n, "\n");
  return out;
}

std::string AuditVerifyResult::ToJson() const {
  nlohmann::ordered_json j;
  j["log"] = log;
  j["ok"] = ok();
  j["records"] = records;
  j["segments"] = segments;
  j["checkpoints"] = checkpoints;
  j["verified_records"] = verified;
  if (verified_at) {
    j["verified_through_seq"] = verified - 1;
    j["verified_at"] = CheckpointJson(*verified_at);
  } else {
    j["verified_at"] = nullptr;
  }
  j["key_ids"] = key_ids;
  nlohmann::ordered_json ps = nlohmann::ordered_json::array();
  for (const AuditProblem& p : problems) {
    nlohmann::ordered_json o;
    o["kind"] = p.kind;
    o["file"] = p.file;
    o["offset"] = p.offset;
    if (p.seq >= 0) o["seq"] = p.seq;
    o["message"] = p.message;
    ps.push_back(std::move(o));
  }
  j["problems"] = std::move(ps);
  j["notes"] = notes;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

absl::StatusOr<std::string> ProveAuditInclusion(const AuditLogLayout& layout,
                                                const AuditKeyRing& keys, uint64_t seq) {
  AuditVerifyOptions options;
  options.keep_leaves = true;
  options.keep_line = static_cast<int64_t>(seq);
  absl::StatusOr<AuditVerifyResult> r = VerifyAuditLog(layout, keys, options);
  if (!r.ok()) return r.status();
  if (!r->verified_at || seq >= r->verified) {
    return absl::FailedPreconditionError(absl::StrCat(
        "record ", seq, " is not covered by a verified checkpoint (",
        r->verified_at ? absl::StrCat("the log is intact up to record ", r->verified - 1)
                       : std::string("no checkpoint verified"),
        "; run `airlock audit verify`)"));
  }
  const AuditCheckpoint& c = *r->verified_at;
  absl::StatusOr<std::vector<Sha256Hash>> path = MerkleInclusionProof(r->leaves, seq, c.size);
  if (!path.ok()) return path.status();
  nlohmann::ordered_json j;
  j["type"] = "inclusion";
  j["seq"] = seq;
  j["record"] = r->line;
  j["leaf_hash"] = HashToHex(r->leaves[seq]);
  j["tree_size"] = c.size;
  j["root"] = HashToHex(c.root);
  j["path"] = HashesJson(*path);
  j["checkpoint"] = CheckpointJson(c);
  return j.dump(2);
}

absl::StatusOr<std::string> ProveAuditConsistency(const AuditLogLayout& layout,
                                                  const AuditKeyRing& keys, uint64_t from,
                                                  uint64_t to) {
  AuditVerifyOptions options;
  options.keep_leaves = true;
  absl::StatusOr<AuditVerifyResult> r = VerifyAuditLog(layout, keys, options);
  if (!r.ok()) return r.status();
  if (from == 0 || from > to) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency proof: need 0 < --from <= --to, got ", from, " and ", to));
  }
  if (to > r->verified) {
    return absl::FailedPreconditionError(
        absl::StrCat("tree size ", to, " is beyond what verified checkpoints cover (", r->verified,
                     " records)"));
  }
  absl::StatusOr<std::vector<Sha256Hash>> path = MerkleConsistencyProof(r->leaves, from, to);
  if (!path.ok()) return path.status();
  nlohmann::ordered_json j;
  j["type"] = "consistency";
  j["from"] = from;
  j["to"] = to;
  j["root_from"] = HashToHex(MerkleRootOf(r->leaves, 0, from));
  j["root_to"] = HashToHex(MerkleRootOf(r->leaves, 0, to));
  j["path"] = HashesJson(*path);
  for (const AuditCheckpoint& c : r->good_checkpoints) {
    if (c.size == from && !j.contains("checkpoint_from")) j["checkpoint_from"] = CheckpointJson(c);
    if (c.size == to && !j.contains("checkpoint_to")) j["checkpoint_to"] = CheckpointJson(c);
  }
  return j.dump(2);
}

absl::Status CheckAuditProof(std::string_view proof_json, const AuditKeyRing& keys) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(proof_json);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("proof: not JSON: ", e.what()));
  }
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    return absl::InvalidArgumentError("proof: not an object with a 'type'");
  }
  const std::string type = j["type"].get<std::string>();
  absl::StatusOr<std::vector<Sha256Hash>> path = HashList(j, "path");
  if (!path.ok()) return path.status();
  if (type == "inclusion") {
    absl::StatusOr<AuditCheckpoint> c = ProofCheckpoint(j, "checkpoint", keys);
    if (!c.ok()) return c.status();
    absl::StatusOr<uint64_t> seq = UintField(j, "seq");
    if (!seq.ok()) return seq.status();
    absl::StatusOr<Sha256Hash> leaf = HashField(j, "leaf_hash");
    if (!leaf.ok()) return leaf.status();
    if (auto it = j.find("record"); it != j.end()) {
      if (!it->is_string()) return absl::InvalidArgumentError("proof: 'record' is not a string");
      const std::string line = it->get<std::string>();
      if (MerkleLeafHash(line) != *leaf) {
        return absl::InvalidArgumentError("proof: the record does not hash to leaf_hash");
      }
      RecordFrame frame;
      if (!ParseRecordFrame(line, &frame) || frame.seq != *seq) {
        return absl::InvalidArgumentError("proof: the record's seq is not the proof's seq");
      }
    }
    if (j.value("tree_size", uint64_t{0}) != c->size ||
        j.value("root", std::string()) != HashToHex(c->root)) {
      return absl::InvalidArgumentError(
          "proof: tree_size and root are not those of the signed checkpoint");
    }
    return VerifyMerkleInclusion(*seq, c->size, *leaf, *path, c->root);
  }
  if (type == "consistency") {
    absl::StatusOr<uint64_t> from = UintField(j, "from");
    if (!from.ok()) return from.status();
    absl::StatusOr<uint64_t> to = UintField(j, "to");
    if (!to.ok()) return to.status();
    absl::StatusOr<Sha256Hash> root_from = HashField(j, "root_from");
    if (!root_from.ok()) return root_from.status();
    absl::StatusOr<Sha256Hash> root_to = HashField(j, "root_to");
    if (!root_to.ok()) return root_to.status();
    bool any_signed = false;
    for (const auto& [key, size, root] : {std::tuple{"checkpoint_from", *from, *root_from},
                                          std::tuple{"checkpoint_to", *to, *root_to}}) {
      if (!j.contains(key)) continue;
      absl::StatusOr<AuditCheckpoint> c = ProofCheckpoint(j, key, keys);
      if (!c.ok()) return c.status();
      if (c->size != size || c->root != root) {
        return absl::InvalidArgumentError(
            absl::StrCat("proof: ", key, " does not sign the tree of size ", size));
      }
      any_signed = true;
    }
    if (!any_signed) {
      return absl::InvalidArgumentError(
          "proof: neither tree size is signed by a checkpoint in the proof");
    }
    return VerifyMerkleConsistency(*from, *to, *root_from, *root_to, *path);
  }
  return absl::InvalidArgumentError(absl::StrCat("proof: unknown type '", type, "'"));
}

}  // namespace airlock::gateway

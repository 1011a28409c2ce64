// Signed checkpoints of the audit log, and where a log's files lie.
//
// A checkpoint commits to the first `size` records (tree size and RFC 6962 root), the time it
// was made, the key that signed it, the hash of the checkpoint before it (so that checkpoints
// form a chain: one deleted or altered breaks it), and where the writer was (segment and byte
// offset just past record size-1). The Ed25519 signature covers CheckpointSignedBody(): a
// fixed text, one `name value` per line, that anyone can rebuild from the fields:
//
//   airlock-audit-checkpoint/v1
//   index 3
//   size 12000
//   root 9f86d0...            (64 hex)
//   time 2026-11-24T12:00:00.123Z
//   prev 5e8848...            (64 hex; CheckpointHash of checkpoint index-1, zeros for 0)
//   segment 1
//   offset 5242880
//   reason records            (records | interval | rotate | shutdown | recovery | open)
//   note                      (printable ASCII, may be empty)
//   key 1a2b3c4d5e6f7a8b
//
// Checkpoints are JSON lines in STEM.checkpoints.jsonl: the fields above, "sig" (base64), and
// two unsigned fields the writer uses to resume without rereading the log: "frontier" (the
// tree's right edge) and "last_leaf" (leaf hash of record size-1). A verifier never trusts
// them: it recomputes everything from the records.
//
// Layout: the live segment is the configured path, e.g. DIR/audit.jsonl; sealed segments are
// DIR/audit.000000.jsonl, DIR/audit.000001.jsonl, ... (6 or more digits, in order); the live
// segment's index is one more than the highest sealed one. Checkpoints are in
// DIR/audit.checkpoints.jsonl. STEM is the live segment's name without ".jsonl".
//
// Thread-safety: pure functions and value types.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/audit/merkle.h"

namespace airlock::gateway {

struct AuditCheckpoint {
  uint64_t index = 0;
  uint64_t size = 0;
  Sha256Hash root{};
  std::string time;
  Sha256Hash prev{};
  uint64_t segment = 0;
  uint64_t offset = 0;
  std::string reason;
  std::string note;
  std::string key_id;
  std::string signature;  // raw bytes (64 for Ed25519)
  // Unsigned writer state.
  std::vector<Sha256Hash> frontier;
  Sha256Hash last_leaf{};
};

std::string CheckpointSignedBody(const AuditCheckpoint& c);
// SHA-256 of the signed body: what the next checkpoint's `prev` must be.
Sha256Hash CheckpointHash(const AuditCheckpoint& c);
// One JSON object, no newline.
std::string EncodeCheckpoint(const AuditCheckpoint& c);
// INVALID_ARGUMENT naming the field when the line is not a checkpoint.
absl::StatusOr<AuditCheckpoint> DecodeCheckpoint(std::string_view line);
// Keeps printable ASCII, replaces anything else with '?': notes must fit one body line.
std::string SanitizeCheckpointNote(std::string_view note);

// The files of one audit log.
struct AuditLogLayout {
  std::string dir;          // the folder ("." when the path has none)
  std::string stem;         // "audit" for audit.jsonl
  std::string live;         // the live segment (the configured path)
  std::string checkpoints;  // STEM.checkpoints.jsonl

  // `path` is the live segment's path, or a folder holding exactly one log (found by its
  // STEM.checkpoints.jsonl, else a single *.jsonl segment). INVALID_ARGUMENT when a folder
  // holds none or several.
  static absl::StatusOr<AuditLogLayout> Resolve(const std::string& path);
  static AuditLogLayout ForLivePath(const std::string& live_path);

  std::string Sealed(uint64_t index) const;

  struct Segment {
    uint64_t index = 0;
    std::string path;
    bool live = false;
  };
  // Sealed segments in index order, then the live one when it exists (its index one past the
  // highest sealed). Gaps in the sealed indices are kept (the verifier reports them).
  absl::StatusOr<std::vector<Segment>> ListSegments() const;
};

// The two fields of a record line the log's integrity rests on, read without a full JSON
// parse: the line must start with {"seq":N, and end with ,"prev":"<64 hex>"}.
struct RecordFrame {
  uint64_t seq = 0;
  std::string_view prev_hex;
};
bool ParseRecordFrame(std::string_view line, RecordFrame* out);

}  // namespace airlock::gateway

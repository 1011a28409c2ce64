// Offline verification of an audit log, and Merkle proofs from it.
//
// VerifyAuditLog reads every segment and the checkpoints file of a log (checkpoint.h has the
// layout) and checks, with nothing but the trusted public keys:
//   - the checkpoints: each parses, has the next index, names the hash of the one before it,
//     is signed by a trusted key and never shrinks the tree;
//   - the records, in segment order: each line is a record, seq runs 0, 1, 2, ... without
//     gaps, each record's `prev` is the leaf hash of the record before it;
//   - at each checkpoint's size: the RFC 6962 root of the records read so far, and the
//     segment and byte offset, equal what the checkpoint signed.
// It stops reading records at the first bad one and names it. Kinds of problems:
//   modified                a record or checkpoint line was altered (names the record)
//   missing                 records are absent from the sequence (deleted)
//   reordered               records are out of order (swapped, moved or duplicated)
//   missing-segment         a whole segment is gone
//   truncated               a segment ends early: records that a checkpoint signed are gone,
//                           or a sealed segment ends inside a record
//   torn-tail               the live segment ends inside a record (a crash while writing)
//   unsigned-tail           records after the last checkpoint: not yet signed (a crash, a
//                           live log) or appended by someone else
//   missing-checkpoint      a checkpoint was deleted (the chain skips an index)
//   inconsistent-checkpoint a checkpoint signs a tree that does not extend the earlier
//                           ones (a different root or a smaller size than the records show)
//   wrong-key               a checkpoint is signed by a key not among the trusted ones
//   bad-signature           a checkpoint's signature does not verify (it was altered)
// "Intact up to record N at checkpoint time T": every record up to N is covered by the
// signed checkpoint of time T and nothing before it is wrong.
//
// Thread-safety: pure functions over files that must not change while they run.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/audit/checkpoint.h"
#include "gateway/audit/merkle.h"
#include "gateway/audit/signing.h"

namespace airlock::gateway {

struct AuditProblem {
  std::string kind;
  std::string file;     // the segment or checkpoints file
  uint64_t offset = 0;  // byte offset in `file`
  int64_t seq = -1;     // the record's seq, -1 when the problem is not one record
  std::string message;
};

struct AuditVerifyOptions {
  bool keep_leaves = false;  // fill AuditVerifyResult::leaves (for proofs)
  int64_t keep_line = -1;    // copy the line of this seq into AuditVerifyResult::line
};

struct AuditVerifyResult {
  std::string log;        // the live segment's path
  uint64_t segments = 0;  // segment files read
  uint64_t records = 0;   // records read in order before the first bad one
  uint64_t verified = 0;  // records covered by the last checkpoint that matched
  std::optional<AuditCheckpoint> verified_at;  // that checkpoint
  uint64_t checkpoints = 0;                    // checkpoint lines read
  std::set<std::string> key_ids;               // keys that signed checkpoints that verified
  std::vector<AuditProblem> problems;
  std::vector<std::string> notes;  // crash recoveries, key rotations: fine, but worth knowing
  std::vector<AuditCheckpoint> good_checkpoints;  // signed, chained and matching the records
  std::vector<Sha256Hash> leaves;                 // keep_leaves: one per record read
  std::string line;                               // keep_line's record

  bool ok() const { return problems.empty(); }
  // Several lines for people: the verdict first.
  std::string Summary() const;
  // One JSON object.
  std::string ToJson() const;
};

// NOT_FOUND / INVALID_ARGUMENT when the log's files cannot be found or listed; every kind of
// damage is a problem in the result, not an error.
absl::StatusOr<AuditVerifyResult> VerifyAuditLog(const AuditLogLayout& layout,
                                                 const AuditKeyRing& keys,
                                                 const AuditVerifyOptions& options = {});

// An inclusion proof for record `seq` against the latest checkpoint that verified, as one
// JSON object: {"type":"inclusion","seq","record","leaf_hash","tree_size","root","path",
// "checkpoint"}. FAILED_PRECONDITION when the record is not covered by a verified checkpoint.
absl::StatusOr<std::string> ProveAuditInclusion(const AuditLogLayout& layout,
                                                const AuditKeyRing& keys, uint64_t seq);
// A consistency proof between the trees of the first `from` and `to` records (both covered by
// verified checkpoints' trees): {"type":"consistency","from","to","root_from","root_to",
// "path","checkpoint_from"?,"checkpoint_to"?} (the checkpoints that signed those sizes, if
// any).
absl::StatusOr<std::string> ProveAuditConsistency(const AuditLogLayout& layout,
                                                  const AuditKeyRing& keys, uint64_t from,
                                                  uint64_t to);
// Checks a proof made by the two functions above, offline: the checkpoints' signatures with
// `keys`, the record's leaf hash, the Merkle path. OK, or INVALID_ARGUMENT saying what failed.
absl::Status CheckAuditProof(std::string_view proof_json, const AuditKeyRing& keys);

}  // namespace airlock::gateway

// The audit log: append-only JSON Lines segments, one record per request (audit_record.h),
// made tamper-evident by an RFC 6962 Merkle tree over the record lines and signed checkpoints
// (checkpoint.h has the checkpoint format and the files' layout; verifier.h checks them).
//
// Append() never blocks on I/O: it enqueues the record for a dedicated writer thread. The
// writer numbers records (continuing from the last record already written), stamps their time
// when unset, chains each to the one before it (`prev`), and writes everything queued since its
// last write in one write() call (group commit), then fsyncs according to AuditConfig::fsync:
//   record    fdatasync after each record (records are written one by one);
//   batch     fdatasync after each batch (the writer takes a batch as soon as it is idle);
//   interval  batches are written as with batch, but fdatasync runs at most once per
//             fsync_interval (and at once when Flush or Close asks): one fdatasync per
//             interval however high the request rate;
//   never     no fdatasync except before each checkpoint and in Flush() and Close().
// Before writing a checkpoint the writer always syncs the records it covers, so that a crash
// can never leave a checkpoint that signs records the disk lost.
//
// What a crash can lose. Append returns before the record is written, in every mode, so:
//   the process dies (SIGKILL, abort): records appended but not yet written, in every mode
//     only those of the last moment (the writer takes them as soon as it is free);
//   the machine dies (power, kernel): records written but not yet fdatasynced as well — with
//     record at most the one being synced; with batch the batch being synced; with interval
//     up to fsync_interval of records; with never whatever the OS had not flushed since the
//     last checkpoint (on Linux typically up to 30 s).
// Records that reached the disk are never damaged by a later crash: only whole records are
// lost, from the end; records after the last checkpoint are not yet signed ("unsigned tail").
//
// Segments. The live segment (config.path) is sealed — a checkpoint, fdatasync, renamed to
// STEM.NNNNNN.jsonl — before a record would take it past segment_max_bytes, or when a record
// comes after it has been open segment_max_age; a new live segment begins. Checkpoints are
// signed every checkpoint_every_records records or checkpoint_interval after the first record
// not yet covered, at each rotation, on open after a crash and on Close.
//
// Crash recovery (Open). A torn last checkpoint line (never synced) is cut. The writer resumes
// from the last checkpoint's saved tree state and rereads only the records after it. Records
// found after the last checkpoint (written before a crash) are signed by a "recovery"
// checkpoint whose note says so. A torn last record line is not rewritten: it is reported
// (torn_tail_bytes(), recovery_note()), the recovery checkpoint marks where the complete
// records end, the segment is sealed as it is and writing continues in a new segment. A log
// whose records do not line up (a line that is not a record, a sequence gap, a broken chain)
// is DATA_LOSS: it was damaged or altered and needs `airlock audit verify`.
// The log is locked (flock on the checkpoints file) so that two processes cannot interleave.
//
// Thread-safety: Append, ContentHmac, Flush, Checkpoint and status may be called from any
// thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <openssl/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/audit/audit_record.h"
#include "gateway/audit/checkpoint.h"
#include "gateway/audit/merkle.h"
#include "gateway/audit/signing.h"
#include "gateway/config.h"

namespace airlock::gateway {

class AuditLog {
 public:
  // Opens (creating it and its folder if needed, mode 0640) and locks the log, recovers as
  // described above, loads the HMAC key (hmac_key_file: its bytes, trailing CR/LF removed, at
  // least 16 bytes; else 32 random bytes) and the signing key (signing_key_file; else a new
  // key whose public half is written to STEM.key-ID.pub next to the log), and starts the
  // writer thread.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const AuditConfig& config);

  ~AuditLog();  // Close()
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Lowercase hex HMAC-SHA256 of `bytes` under the log's key.
  std::string ContentHmac(std::string_view bytes) const;

  // Enqueues a record; returns at once. `seq` is overwritten; `time` is set when empty.
  // After Close(), records are dropped.
  void Append(AuditRecord record);

  // Blocks until every record appended before the call is written and fsynced (whatever the
  // fsync policy), or until a write fails (then status() says why).
  void Flush();

  // Blocks until every record appended before the call is covered by a signed checkpoint (one
  // is written at once if needed), or until a write fails.
  void Checkpoint();

  // Flushes, signs a last checkpoint when records are not yet covered, stops the writer and
  // closes the files. Idempotent.
  void Close();

  // OK, or the first write/fsync error. After an error the writer keeps retrying the records
  // it holds (backing off up to 1 s) until it succeeds or the log is closed.
  absl::Status status() const;

  // Bytes of a torn last record line found when the log was opened (left in the sealed
  // segment), and what recovery did, empty after a clean shutdown.
  uint64_t torn_tail_bytes() const { return torn_tail_bytes_; }
  const std::string& recovery_note() const { return recovery_note_; }
  const std::string& key_id() const { return signer_.key_id(); }
  // Seq the next record will get.
  uint64_t next_seq() const;
  const std::string& path() const { return config_.path; }

 private:
  AuditLog(AuditConfig config, std::string key, AuditSigner signer);
  // Open's work after construction: lock, resume, recover. Runs before the writer starts.
  absl::Status Init();
  void WriterLoop();
  // Writes `bytes` fully (retrying on EINTR and short writes, backing off on errors until
  // closing); false when it gave up (status_ set).
  bool WriteAll(int fd, std::string_view bytes, const std::string& path);
  bool Sync(int fd, const std::string& path);
  // Syncs the live segment, then signs and appends a checkpoint of the whole tree.
  bool WriteCheckpoint(std::string_view reason, std::string_view note);
  // Checkpoint, rename the live segment to its sealed name, begin a new one.
  bool Rotate();
  absl::Status OpenLive();
  void SetError(const absl::Status& s);

  const AuditConfig config_;
  const AuditLogLayout layout_;
  const std::string key_;
  // HMAC-SHA256 keyed with key_, never used itself: each ContentHmac works on a copy (which
  // spares the algorithm lookup and the key schedule). Null when OpenSSL could not make it.
  const std::unique_ptr<EVP_MAC_CTX, void (*)(EVP_MAC_CTX*)> hmac_;
  const AuditSigner signer_;
  uint64_t torn_tail_bytes_ = 0;
  std::string recovery_note_;

  // Writer state: Init() and then only the writer thread (and Close() after it has joined).
  int live_fd_ = -1;
  int checkpoints_fd_ = -1;  // also holds the flock
  uint64_t live_index_ = 0;
  uint64_t live_bytes_ = 0;
  std::chrono::steady_clock::time_point live_opened_;
  bool rotation_failed_ = false;
  MerkleTree tree_;
  Sha256Hash last_leaf_{};
  bool have_checkpoint_ = false;
  AuditCheckpoint last_checkpoint_;
  uint64_t since_checkpoint_ = 0;  // records not covered by a checkpoint
  std::chrono::steady_clock::time_point first_uncovered_;

  mutable std::mutex mu_;
  std::condition_variable writer_cv_;  // work for the writer
  std::condition_variable done_cv_;    // progress for Flush
  std::vector<AuditRecord> queue_;
  uint64_t next_seq_ = 0;       // seq for the next record the writer takes
  uint64_t enqueued_ = 0;       // records appended so far
  uint64_t written_ = 0;        // records written to the file
  uint64_t durable_ = 0;        // records written and fsynced
  uint64_t flush_to_ = 0;       // Flush wants durable_ >= flush_to_
  uint64_t covered_ = 0;        // records written and covered by a checkpoint
  uint64_t checkpoint_to_ = 0;  // Checkpoint wants covered_ >= checkpoint_to_
  uint64_t errors_ = 0;         // write/fsync failures so far
  absl::Status status_;
  bool closing_ = false;
  bool closed_ = false;  // the writer has exited
  std::mutex close_mu_;  // serializes Close()
  std::thread writer_;
};

}  // namespace airlock::gateway

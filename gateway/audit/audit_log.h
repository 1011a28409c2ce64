// The audit log: append-only JSON Lines, one record per request (see audit_record.h).
//
// Append() never blocks on I/O: it enqueues the record for a dedicated writer thread. The
// writer numbers records (continuing from the last record already in the file), stamps their
// time when unset, and writes everything queued since its last write in one write() call
// (group commit), then fsyncs according to AuditConfig::fsync:
//   record    fdatasync after each record (records are written one by one);
//   batch     fdatasync after each batch (the writer takes a batch as soon as it is idle);
//   interval  batches are written as with batch, but fdatasync runs at most once per
//             fsync_interval (and at once when Flush or Close asks): one fdatasync per
//             interval however high the request rate;
//   never     no fdatasync except in Flush() and Close().
//
// What a crash can lose. Append returns before the record is written, in every mode, so:
//   the process dies (SIGKILL, abort): records appended but not yet written, in every mode
//     only those of the last moment (the writer takes them as soon as it is free);
//   the machine dies (power, kernel): records written but not yet fdatasynced as well — with
//     record at most the one being synced; with batch the batch being synced; with interval
//     up to fsync_interval of records; with never whatever the OS had not flushed (on Linux
//     typically up to 30 s).
// Records that reached the disk are never damaged by a later crash: only whole records are
// lost, from the end.
//
// Crash safety: a record is one line ending in '\n'. On Open, bytes after the last newline
// (a record torn by a crash, never fsynced) are cut off — torn_tail_bytes() says how many —
// and numbering continues from the last complete record. A last complete line that is not a
// record is DATA_LOSS: the file was damaged or altered and needs `airlock audit verify`.
// The file is locked (flock) so that two processes cannot interleave records.
//
// Thread-safety: Append, ContentHmac, Flush and status may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/audit/audit_record.h"
#include "gateway/config.h"

namespace airlock::gateway {

class AuditLog {
 public:
  // Opens (creating it and its folder if needed, mode 0640) and locks config.path, reads the
  // last record's seq, loads the HMAC key (hmac_key_file: its bytes, trailing CR/LF removed,
  // at least 16 bytes; else 32 random bytes), and starts the writer thread.
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

  // Flushes, stops the writer and closes the file. Idempotent.
  void Close();

  // OK, or the first write/fsync error. After an error the writer keeps retrying the records
  // it holds (backing off up to 1 s) until it succeeds or the log is closed.
  absl::Status status() const;

  // Bytes of a torn last line removed when the file was opened.
  uint64_t torn_tail_bytes() const { return torn_tail_bytes_; }
  // Seq the next record will get.
  uint64_t next_seq() const;
  const std::string& path() const { return config_.path; }

 private:
  AuditLog(AuditConfig config, int fd, uint64_t next_seq, std::string key, uint64_t torn);
  void WriterLoop();
  // Writes `bytes` fully (retrying on EINTR and short writes); false on error (status_ set).
  bool WriteAll(std::string_view bytes);
  bool Sync();
  void SetError(const absl::Status& s);

  const AuditConfig config_;
  int fd_;  // -1 once closed; only the writer thread and Close() use it
  const std::string key_;
  const uint64_t torn_tail_bytes_;

  mutable std::mutex mu_;
  std::condition_variable writer_cv_;  // work for the writer
  std::condition_variable done_cv_;    // progress for Flush
  std::vector<AuditRecord> queue_;
  uint64_t next_seq_;      // seq for the next record the writer takes
  uint64_t enqueued_ = 0;  // records appended so far
  uint64_t written_ = 0;   // records written to the file
  uint64_t durable_ = 0;   // records written and fsynced
  uint64_t flush_to_ = 0;  // Flush wants durable_ >= flush_to_
  uint64_t errors_ = 0;    // write/fsync failures so far
  absl::Status status_;
  bool closing_ = false;
  bool closed_ = false;  // the writer has exited
  std::mutex close_mu_;  // serializes Close()
  std::thread writer_;
};

}  // namespace airlock::gateway

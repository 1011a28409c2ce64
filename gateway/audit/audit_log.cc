#include "gateway/audit/audit_log.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace airlock::gateway {
namespace {

// HMAC-SHA256 keyed with `key`, ready for updates; null on failure.
EVP_MAC_CTX* NewHmac(const std::string& key) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) return nullptr;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);  // the context holds its own reference
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                               OSSL_PARAM_construct_end()};
  if (ctx != nullptr && EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()),
                                     key.size(), params) != 1) {
    EVP_MAC_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

std::string Errno(std::string_view what, const std::string& path) {
  return absl::StrCat("audit log ", path, ": ", absl::string_view(what.data(), what.size()), ": ",
                      std::strerror(errno));
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The whole file from `offset` on.
absl::StatusOr<std::string> ReadFrom(const std::string& path, uint64_t offset) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(Errno("open", path));
  std::string out;
  char buf[1 << 16];
  off_t pos = static_cast<off_t>(offset);
  while (true) {
    ssize_t n = ::pread(fd, buf, sizeof(buf), pos);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = absl::InternalError(Errno("read", path));
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    pos += n;
  }
  ::close(fd);
  return out;
}

absl::Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(Errno("open folder", dir));
  int r = ::fsync(fd);
  ::close(fd);
  if (r != 0) return absl::InternalError(Errno("fsync folder", dir));
  return absl::OkStatus();
}

std::string DataLoss(const std::string& path, uint64_t offset, absl::string_view what) {
  return absl::StrCat("audit log ", path, ": byte ", offset, ": ", what,
                      "; check the log with `airlock audit verify`");
}

}  // namespace

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const AuditConfig& config) {
  if (config.path.empty()) return absl::InvalidArgumentError("audit log: no path configured");

  std::string key;
  if (!config.hmac_key_file.empty()) {
    std::ifstream in(config.hmac_key_file, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    if (!in) {
      return absl::InvalidArgumentError(absl::StrCat("audit hmac_key_file ", config.hmac_key_file,
                                                     ": cannot read: ", std::strerror(errno)));
    }
    key = buf.str();
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
    if (key.size() < 16) {
      return absl::InvalidArgumentError(
          absl::StrCat("audit hmac_key_file ", config.hmac_key_file, ": key has ", key.size(),
                       " bytes; at least 16 are required (e.g. `openssl rand -hex 32`)"));
    }
  } else {
    key.resize(32);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) !=
        1) {
      return absl::InternalError("audit log: no randomness for the HMAC key");
    }
  }

  absl::StatusOr<AuditSigner> signer =
      config.signing_key_file.empty() ? AuditSigner::Generate()
                                      : AuditSigner::FromPrivateKeyFile(config.signing_key_file);
  if (!signer.ok()) return signer.status();

  std::unique_ptr<AuditLog> log(new AuditLog(config, std::move(key), std::move(*signer)));
  if (absl::Status s = log->Init(); !s.ok()) return s;
  log->writer_ = std::thread([p = log.get()] { p->WriterLoop(); });
  return log;
}

AuditLog::AuditLog(AuditConfig config, std::string key, AuditSigner signer)
    : config_(std::move(config)),
      layout_(AuditLogLayout::ForLivePath(config_.path)),
      key_(std::move(key)),
      hmac_(NewHmac(key_), EVP_MAC_CTX_free),
      signer_(std::move(signer)) {}

AuditLog::~AuditLog() { Close(); }

absl::Status AuditLog::OpenLive() {
  live_fd_ = ::open(layout_.live.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (live_fd_ < 0) return absl::FailedPreconditionError(Errno("open", layout_.live));
  live_opened_ = std::chrono::steady_clock::now();
  return absl::OkStatus();
}

absl::Status AuditLog::Init() {
  std::error_code ec;
  for (const std::string& f : {layout_.live, layout_.checkpoints}) {
    if (std::filesystem::exists(f, ec) && !std::filesystem::is_regular_file(f, ec)) {
      return absl::FailedPreconditionError(absl::StrCat("audit log ", f, ": not a regular file"));
    }
  }
  std::filesystem::create_directories(layout_.dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("audit log ", config_.path, ": cannot create folder: ", ec.message()));
  }
  checkpoints_fd_ =
      ::open(layout_.checkpoints.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (checkpoints_fd_ < 0) return absl::FailedPreconditionError(Errno("open", layout_.checkpoints));
  if (::flock(checkpoints_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("audit log ", config_.path, ": in use by another process"));
    }
    return absl::FailedPreconditionError(Errno("lock", layout_.checkpoints));
  }
  if (config_.signing_key_file.empty()) {
    std::string pub = (std::filesystem::path(layout_.dir) /
                       absl::StrCat(layout_.stem, ".key-", signer_.key_id(), ".pub"))
                          .string();
    std::ofstream out(pub, std::ios::binary | std::ios::trunc);
    out << signer_.PublicKeyPem();
    if (!out) return absl::FailedPreconditionError(Errno("write", pub));
  }

  // The last checkpoint; a torn line after it (never synced) is cut.
  absl::StatusOr<std::string> cps = ReadFrom(layout_.checkpoints, 0);
  if (!cps.ok()) return cps.status();
  size_t end = cps->rfind('\n');
  end = end == std::string::npos ? 0 : end + 1;
  if (end < cps->size()) {
    if (::ftruncate(checkpoints_fd_, static_cast<off_t>(end)) != 0 ||
        ::fdatasync(checkpoints_fd_) != 0) {
      return absl::InternalError(Errno("truncate torn checkpoint", layout_.checkpoints));
    }
    recovery_note_ = absl::StrCat("cut a torn checkpoint line of ", cps->size() - end, " bytes");
    cps->resize(end);
  }
  if (end > 0) {
    size_t begin = cps->rfind('\n', end - 2);
    begin = begin == std::string::npos ? 0 : begin + 1;
    absl::StatusOr<AuditCheckpoint> last =
        DecodeCheckpoint(std::string_view(*cps).substr(begin, end - 1 - begin));
    if (!last.ok()) {
      return absl::DataLossError(DataLoss(layout_.checkpoints, begin, last.status().message()));
    }
    last_checkpoint_ = std::move(*last);
    have_checkpoint_ = true;
  }

  absl::StatusOr<std::vector<AuditLogLayout::Segment>> segments = layout_.ListSegments();
  if (!segments.ok()) return segments.status();
  bool live_exists = !segments->empty() && segments->back().live;
  live_index_ = segments->empty() ? 0 : segments->back().index + (live_exists ? 0 : 1);

  // Where to resume: after the last checkpoint when its saved tree state holds up, else from
  // the first record.
  uint64_t from_segment = segments->empty() ? 0 : segments->front().index;
  uint64_t from_offset = 0;
  uint64_t expected = 0;
  if (have_checkpoint_) {
    absl::StatusOr<MerkleTree> t =
        MerkleTree::FromFrontier(last_checkpoint_.size, last_checkpoint_.frontier);
    if (t.ok() && t->Root() == last_checkpoint_.root) {
      tree_ = std::move(*t);
      last_leaf_ = last_checkpoint_.last_leaf;
      from_segment = last_checkpoint_.segment;
      from_offset = last_checkpoint_.offset;
      expected = last_checkpoint_.size;
    }
  }
  const uint64_t signed_size = have_checkpoint_ ? last_checkpoint_.size : 0;
  uint64_t torn_offset = 0;
  bool found_start = from_offset == 0 && expected == 0;
  for (const AuditLogLayout::Segment& seg : *segments) {
    if (seg.index < from_segment) continue;
    uint64_t offset = seg.index == from_segment ? from_offset : 0;
    if (seg.index == from_segment) found_start = true;
    absl::StatusOr<std::string> data = ReadFrom(seg.path, offset);
    if (!data.ok()) return data.status();
    std::string_view rest(*data);
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      if (nl == std::string_view::npos) {
        // A torn last line. In the live segment: this crash's; in a sealed one: an earlier
        // crash's, already accounted for by that recovery.
        if (seg.live) {
          torn_tail_bytes_ = rest.size();
          torn_offset = offset;
        }
        break;
      }
      std::string_view line = rest.substr(0, nl);
      RecordFrame frame;
      if (!ParseRecordFrame(line, &frame)) {
        return absl::DataLossError(
            DataLoss(seg.path, offset, "a line that is not an audit record"));
      }
      if (frame.seq != expected) {
        return absl::DataLossError(
            DataLoss(seg.path, offset,
                     absl::StrCat("record seq ", frame.seq, " where ", expected, " was expected")));
      }
      if (frame.prev_hex != HashToHex(last_leaf_)) {
        return absl::DataLossError(DataLoss(
            seg.path, offset,
            absl::StrCat("record ", frame.seq, " does not chain to the record before it")));
      }
      last_leaf_ = MerkleLeafHash(line);
      tree_.AppendLeafHash(last_leaf_);
      ++expected;
      offset += nl + 1;
      rest.remove_prefix(nl + 1);
    }
    if (seg.live) live_bytes_ = offset;
  }
  if (!found_start && from_offset > 0) {
    return absl::DataLossError(absl::StrCat(
        "audit log ", config_.path, ": segment ", layout_.Sealed(from_segment),
        " named by the last checkpoint is missing; check the log with `airlock audit verify`"));
  }
  next_seq_ = expected;
  if (absl::Status s = OpenLive(); !s.ok()) return s;

  // Records a crash left unsigned, and a torn tail: sign what is complete, say what was found.
  const uint64_t unsigned_records = tree_.size() - signed_size;
  since_checkpoint_ = unsigned_records;
  if (unsigned_records > 0 || torn_tail_bytes_ > 0) {
    std::string note = "after a crash:";
    if (unsigned_records > 0) {
      absl::StrAppend(&note, " signed ", unsigned_records, " records written before it (seq ",
                      signed_size, "..", tree_.size() - 1, ")");
    }
    if (torn_tail_bytes_ > 0) {
      absl::StrAppend(&note, unsigned_records > 0 ? ";" : "", " torn tail of ", torn_tail_bytes_,
                      " bytes at byte ", torn_offset, " of segment ", live_index_,
                      " left in place; continuing in segment ", live_index_ + 1);
    }
    if (!recovery_note_.empty()) absl::StrAppend(&note, "; ", recovery_note_);
    recovery_note_ = note;
    if (!WriteCheckpoint("recovery", note)) return status_;
    if (torn_tail_bytes_ > 0) {
      // Seal the segment as it is, torn tail included: history is not rewritten.
      if (::rename(layout_.live.c_str(), layout_.Sealed(live_index_).c_str()) != 0) {
        return absl::InternalError(Errno("seal segment with torn tail", layout_.live));
      }
      if (absl::Status s = SyncDir(layout_.dir); !s.ok()) return s;
      ::close(live_fd_);
      ++live_index_;
      live_bytes_ = 0;
      if (absl::Status s = OpenLive(); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

std::string AuditLog::ContentHmac(std::string_view bytes) const {
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  EVP_MAC_CTX* ctx = hmac_ ? EVP_MAC_CTX_dup(hmac_.get()) : nullptr;
  const bool ok = ctx != nullptr &&
                  EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(bytes.data()),
                                 bytes.size()) == 1 &&
                  EVP_MAC_final(ctx, out, &len, sizeof out) == 1;
  EVP_MAC_CTX_free(ctx);
  if (!ok) {  // out of memory in OpenSSL: the one-shot form, which needs nothing kept
    unsigned int n = 0;
    HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
         reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out, &n);
    len = n;
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(out), len));
}

void AuditLog::Append(AuditRecord record) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;
  bool was_empty = queue_.empty();
  queue_.push_back(std::move(record));
  ++enqueued_;
  // The writer only sleeps while the queue is empty.
  if (was_empty) writer_cv_.notify_one();
}

void AuditLog::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t target = enqueued_;
  uint64_t errors = errors_;
  if (durable_ >= target && written_ == durable_) return;
  // Everything written must be synced too, even records written before `target` was known.
  target = std::max(target, written_);
  if (flush_to_ < target) flush_to_ = target;
  writer_cv_.notify_one();
  done_cv_.wait(lock, [&] { return durable_ >= target || errors_ > errors || closed_; });
}

void AuditLog::Checkpoint() {
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t target = enqueued_;
  uint64_t errors = errors_;
  if (covered_ >= target) return;
  if (checkpoint_to_ < target) checkpoint_to_ = target;
  writer_cv_.notify_one();
  done_cv_.wait(lock, [&] { return covered_ >= target || errors_ > errors || closed_; });
}

void AuditLog::Close() {
  std::lock_guard<std::mutex> close_lock(close_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
    writer_cv_.notify_all();
  }
  if (writer_.joinable()) writer_.join();
  if (live_fd_ >= 0) {
    ::close(live_fd_);
    live_fd_ = -1;
  }
  if (checkpoints_fd_ >= 0) {
    ::close(checkpoints_fd_);  // also releases the flock
    checkpoints_fd_ = -1;
  }
}

absl::Status AuditLog::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

uint64_t AuditLog::next_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_seq_ + queue_.size();
}

void AuditLog::SetError(const absl::Status& s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (status_.ok()) status_ = s;
  ++errors_;
  done_cv_.notify_all();
}

bool AuditLog::WriteAll(int fd, std::string_view bytes, const std::string& path) {
  std::chrono::milliseconds backoff(10);
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    SetError(absl::UnavailableError(Errno("write", path)));
    std::unique_lock<std::mutex> lock(mu_);
    if (closing_ || !writer_.joinable()) return false;  // give up: a torn tail at worst
    writer_cv_.wait_for(lock, backoff, [&] { return closing_; });
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
  return true;
}

bool AuditLog::Sync(int fd, const std::string& path) {
  std::chrono::milliseconds backoff(10);
  while (::fdatasync(fd) != 0) {
    if (errno == EINTR) continue;
    SetError(absl::UnavailableError(Errno("fdatasync", path)));
    std::unique_lock<std::mutex> lock(mu_);
    if (closing_ || !writer_.joinable()) return false;
    writer_cv_.wait_for(lock, backoff, [&] { return closing_; });
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
  return true;
}

bool AuditLog::WriteCheckpoint(std::string_view reason, std::string_view note) {
  if (!Sync(live_fd_, layout_.live)) return false;
  AuditCheckpoint c;
  c.index = have_checkpoint_ ? last_checkpoint_.index + 1 : 0;
  c.size = tree_.size();
  c.root = tree_.Root();
  c.time = FormatRfc3339Millis(NowMillis());
  if (have_checkpoint_) c.prev = CheckpointHash(last_checkpoint_);
  c.segment = live_index_;
  c.offset = live_bytes_;
  c.reason = std::string(reason);
  c.note = SanitizeCheckpointNote(note);
  c.key_id = signer_.key_id();
  c.signature = signer_.Sign(CheckpointSignedBody(c));
  c.frontier = tree_.frontier();
  c.last_leaf = last_leaf_;
  std::string line = EncodeCheckpoint(c);
  line += '\n';
  if (!WriteAll(checkpoints_fd_, line, layout_.checkpoints)) return false;
  if (config_.fsync != AuditConfig::Fsync::kNever && !Sync(checkpoints_fd_, layout_.checkpoints)) {
    return false;
  }
  last_checkpoint_ = std::move(c);
  have_checkpoint_ = true;
  since_checkpoint_ = 0;
  return true;
}

bool AuditLog::Rotate() {
  if (!WriteCheckpoint("rotate", "")) return false;
  const std::string sealed = layout_.Sealed(live_index_);
  if (::rename(layout_.live.c_str(), sealed.c_str()) != 0) {
    SetError(absl::InternalError(Errno("seal segment (rename)", layout_.live)));
    rotation_failed_ = true;  // keep writing to the segment we have
    return true;
  }
  if (absl::Status s = SyncDir(layout_.dir); !s.ok()) SetError(s);
  int old = live_fd_;
  ++live_index_;
  live_bytes_ = 0;
  if (absl::Status s = OpenLive(); !s.ok()) {
    // The sealed file is still open: keep appending to it rather than lose records.
    SetError(s);
    live_fd_ = old;
    rotation_failed_ = true;
    return true;
  }
  ::close(old);
  return true;
}

void AuditLog::WriterLoop() {
  using Clock = std::chrono::steady_clock;
  std::vector<AuditRecord> batch;
  std::string buffer;
  const AuditConfig::Fsync policy = config_.fsync;
  const bool interval = policy == AuditConfig::Fsync::kInterval;
  auto last_sync = Clock::now();
  auto ready = [&] {
    return !queue_.empty() || flush_to_ > durable_ || checkpoint_to_ > covered_ || closing_;
  };
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    auto deadline = Clock::time_point::max();
    if (interval && durable_ < written_) deadline = last_sync + config_.fsync_interval;
    if (since_checkpoint_ > 0) {
      deadline = std::min(deadline, first_uncovered_ + config_.checkpoint_interval);
    }
    if (deadline == Clock::time_point::max()) {
      writer_cv_.wait(lock, ready);
    } else {
      writer_cv_.wait_until(lock, deadline, ready);
    }
    batch.clear();
    batch.swap(queue_);
    uint64_t seq = next_seq_;
    next_seq_ += batch.size();
    const bool sync_wanted = flush_to_ > durable_ || closing_;
    const bool checkpoint_wanted = checkpoint_to_ > covered_ || closing_;
    lock.unlock();

    const std::string now = FormatRfc3339Millis(NowMillis());
    const auto now_steady = Clock::now();
    bool ok = true;
    bool synced = true;  // everything written so far in this round is synced
    buffer.clear();
    for (AuditRecord& r : batch) {
      r.seq = seq++;
      if (r.time.empty()) r.time = now;
      r.prev = HashToHex(last_leaf_);
      std::string line = EncodeAuditRecord(r);
      const bool full = live_bytes_ + line.size() + 1 > config_.segment_max_bytes;
      const bool old = config_.segment_max_age.count() > 0 &&
                       now_steady - live_opened_ >= config_.segment_max_age;
      if (live_bytes_ > 0 && !rotation_failed_ && (full || old)) {
        ok = WriteAll(live_fd_, buffer, layout_.live) && Rotate();
        buffer.clear();
        if (!ok) break;
      }
      last_leaf_ = MerkleLeafHash(line);
      tree_.AppendLeafHash(last_leaf_);
      if (since_checkpoint_++ == 0) first_uncovered_ = now_steady;
      live_bytes_ += line.size() + 1;
      buffer += line;
      buffer += '\n';
      synced = false;
      if (policy == AuditConfig::Fsync::kEveryRecord) {
        ok = WriteAll(live_fd_, buffer, layout_.live) && Sync(live_fd_, layout_.live);
        buffer.clear();
        if (!ok) break;
        synced = true;
      }
    }
    if (ok && !buffer.empty()) ok = WriteAll(live_fd_, buffer, layout_.live);
    const bool sync_due = interval && now_steady >= last_sync + config_.fsync_interval;
    const bool checkpoint_due =
        since_checkpoint_ >= config_.checkpoint_every_records ||
        (since_checkpoint_ > 0 &&
         (checkpoint_wanted || now_steady >= first_uncovered_ + config_.checkpoint_interval));
    if (ok && checkpoint_due) {
      ok = WriteCheckpoint(closing_                                                ? "shutdown"
                           : since_checkpoint_ >= config_.checkpoint_every_records ? "records"
                                                                                   : "interval",
                           "");
      synced = ok;
      last_sync = now_steady;
    } else if (ok && !synced && (policy == AuditConfig::Fsync::kBatch || sync_due || sync_wanted)) {
      ok = Sync(live_fd_, layout_.live);
      synced = ok;
      last_sync = now_steady;
    } else if (ok && sync_wanted && durable_ < written_) {
      ok = Sync(live_fd_, layout_.live);
      synced = ok;
      last_sync = now_steady;
    }

    lock.lock();
    written_ += batch.size();
    if (ok && synced) durable_ = written_;
    if (ok && since_checkpoint_ == 0) covered_ = written_;
    done_cv_.notify_all();
    if (closing_ && queue_.empty()) {
      if (ok && (durable_ < written_ || since_checkpoint_ > 0)) {
        lock.unlock();
        bool s =
            since_checkpoint_ > 0 ? WriteCheckpoint("shutdown", "") : Sync(live_fd_, layout_.live);
        lock.lock();
        if (s) {
          durable_ = written_;
          if (since_checkpoint_ == 0) covered_ = written_;
        }
      }
      closed_ = true;
      done_cv_.notify_all();
      return;
    }
    if (!ok) {
      // Only reached while closing: the writer gave up on a failing disk.
      closed_ = true;
      done_cv_.notify_all();
      return;
    }
  }
}

}  // namespace airlock::gateway

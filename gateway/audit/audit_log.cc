#include "gateway/audit/audit_log.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
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

std::string Errno(std::string_view what, const std::string& path) {
  return absl::StrCat("audit log ", path, ": ", absl::string_view(what.data(), what.size()), ": ",
                      std::strerror(errno));
}

// Reads [offset, offset + n) of fd.
bool ReadAt(int fd, uint64_t offset, size_t n, std::string* out) {
  out->resize(n);
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, out->data() + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

// Offset just past the last '\n' in [0, end), or 0 when there is none.
absl::StatusOr<uint64_t> EndOfLastLine(int fd, uint64_t end, const std::string& path) {
  constexpr uint64_t kChunk = 64 * 1024;
  std::string buf;
  while (end > 0) {
    uint64_t begin = end > kChunk ? end - kChunk : 0;
    if (!ReadAt(fd, begin, static_cast<size_t>(end - begin), &buf)) {
      return absl::InternalError(Errno("read", path));
    }
    size_t nl = buf.rfind('\n');
    if (nl != std::string::npos) return begin + nl + 1;
    end = begin;
  }
  return 0;
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
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

  std::filesystem::path parent = std::filesystem::path(config.path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("audit log ", config.path, ": cannot create folder: ", ec.message()));
    }
  }
  int fd = ::open(config.path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return absl::FailedPreconditionError(Errno("open", config.path));
  auto fail = [fd](absl::Status s) {
    ::close(fd);
    return s;
  };
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return fail(absl::FailedPreconditionError(
          absl::StrCat("audit log ", config.path, ": in use by another process")));
    }
    return fail(absl::FailedPreconditionError(Errno("lock", config.path)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(absl::InternalError(Errno("stat", config.path)));
  uint64_t size = static_cast<uint64_t>(st.st_size);

  // Cut a torn last line, then continue numbering after the last complete record.
  absl::StatusOr<uint64_t> end = EndOfLastLine(fd, size, config.path);
  if (!end.ok()) return fail(end.status());
  uint64_t torn = size - *end;
  if (torn > 0) {
    if (::ftruncate(fd, static_cast<off_t>(*end)) != 0 || ::fdatasync(fd) != 0) {
      return fail(absl::InternalError(Errno("truncate torn tail", config.path)));
    }
  }
  uint64_t next_seq = 0;
  if (*end > 0) {
    absl::StatusOr<uint64_t> begin = EndOfLastLine(fd, *end - 1, config.path);
    if (!begin.ok()) return fail(begin.status());
    std::string line;
    if (!ReadAt(fd, *begin, static_cast<size_t>(*end - 1 - *begin), &line)) {
      return fail(absl::InternalError(Errno("read", config.path)));
    }
    absl::StatusOr<AuditRecord> last = DecodeAuditRecord(line);
    if (!last.ok()) {
      return fail(absl::DataLossError(absl::StrCat(
          "audit log ", config.path, ": the last line (byte ", *begin, ") is not an audit record (",
          last.status().message(), "); check the file with `airlock audit verify`")));
    }
    next_seq = last->seq + 1;
  }
  return std::unique_ptr<AuditLog>(new AuditLog(config, fd, next_seq, std::move(key), torn));
}

AuditLog::AuditLog(AuditConfig config, int fd, uint64_t next_seq, std::string key, uint64_t torn)
    : config_(std::move(config)),
      fd_(fd),
      key_(std::move(key)),
      torn_tail_bytes_(torn),
      next_seq_(next_seq) {
  writer_ = std::thread([this] { WriterLoop(); });
}

AuditLog::~AuditLog() { Close(); }

std::string AuditLog::ContentHmac(std::string_view bytes) const {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out, &len);
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

void AuditLog::Close() {
  std::lock_guard<std::mutex> close_lock(close_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
    writer_cv_.notify_all();
  }
  if (writer_.joinable()) writer_.join();
  if (fd_ >= 0) {
    ::close(fd_);  // also releases the flock
    fd_ = -1;
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

bool AuditLog::WriteAll(std::string_view bytes) {
  std::chrono::milliseconds backoff(10);
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    SetError(absl::UnavailableError(Errno("write", config_.path)));
    std::unique_lock<std::mutex> lock(mu_);
    if (closing_) return false;  // give up: what is left is lost (a torn tail at worst)
    writer_cv_.wait_for(lock, backoff, [&] { return closing_; });
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
  return true;
}

bool AuditLog::Sync() {
  std::chrono::milliseconds backoff(10);
  while (::fdatasync(fd_) != 0) {
    if (errno == EINTR) continue;
    SetError(absl::UnavailableError(Errno("fdatasync", config_.path)));
    std::unique_lock<std::mutex> lock(mu_);
    if (closing_) return false;
    writer_cv_.wait_for(lock, backoff, [&] { return closing_; });
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
  return true;
}

void AuditLog::WriterLoop() {
  std::vector<AuditRecord> batch;
  std::string buffer;
  const bool interval = config_.fsync == AuditConfig::Fsync::kInterval;
  auto last_sync = std::chrono::steady_clock::now();
  auto ready = [&] { return !queue_.empty() || flush_to_ > durable_ || closing_; };
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (interval && durable_ < written_) {  // written, not yet synced: sync when the interval ends
      writer_cv_.wait_until(lock, last_sync + config_.fsync_interval, ready);
    } else {
      writer_cv_.wait(lock, ready);
    }
    batch.clear();
    batch.swap(queue_);
    uint64_t seq = next_seq_;
    next_seq_ += batch.size();
    bool sync_wanted = flush_to_ > durable_ || closing_;
    lock.unlock();

    std::string now = FormatRfc3339Millis(NowMillis());
    bool ok = true;
    buffer.clear();
    for (AuditRecord& r : batch) {
      r.seq = seq++;
      if (r.time.empty()) r.time = now;
      buffer += EncodeAuditRecord(r);
      buffer += '\n';
      if (config_.fsync == AuditConfig::Fsync::kEveryRecord) {
        ok = WriteAll(buffer) && Sync();
        buffer.clear();
        if (!ok) break;
      }
    }
    if (ok && !buffer.empty()) ok = WriteAll(buffer);
    bool synced = config_.fsync == AuditConfig::Fsync::kEveryRecord;
    const auto now_steady = std::chrono::steady_clock::now();
    const bool sync_due = interval && now_steady >= last_sync + config_.fsync_interval;
    if (ok && !synced && (config_.fsync == AuditConfig::Fsync::kBatch || sync_due || sync_wanted)) {
      ok = Sync();
      synced = ok;
      last_sync = now_steady;
    }

    lock.lock();
    written_ += batch.size();
    if (ok && synced) durable_ = written_;
    done_cv_.notify_all();
    if (closing_ && queue_.empty()) {
      if (ok && durable_ < written_) {
        lock.unlock();
        bool s = Sync();
        lock.lock();
        if (s) durable_ = written_;
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

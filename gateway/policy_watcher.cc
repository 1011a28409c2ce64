#include "gateway/policy_watcher.h"

#include <sys/stat.h>

#include <algorithm>
#include <optional>

namespace airlock::gateway {
namespace {

using Clock = std::chrono::steady_clock;

using FileState = PolicyWatcher::FileState;
using Snapshot = std::vector<FileState>;

Snapshot Look(const std::vector<std::string>& paths) {
  Snapshot out;
  out.reserve(paths.size());
  for (const std::string& path : paths) {
    FileState f;
    f.path = path;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      f.exists = true;
      f.inode = static_cast<uint64_t>(st.st_ino);
      f.size = static_cast<int64_t>(st.st_size);
      f.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
      f.ctime_ns = int64_t{st.st_ctim.tv_sec} * 1000000000 + st.st_ctim.tv_nsec;
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<std::string> Paths(const Snapshot& s) {
  std::vector<std::string> out;
  for (const FileState& f : s) out.push_back(f.path);
  return out;
}

}  // namespace

PolicyWatcher::PolicyWatcher(std::function<std::vector<std::string>()> files,
                             std::function<void()> on_change, std::chrono::milliseconds debounce)
    : files_(std::move(files)),
      on_change_(std::move(on_change)),
      debounce_(debounce),
      poll_(std::clamp(debounce / 4, std::chrono::milliseconds(10),
                       std::chrono::milliseconds(250))) {}

PolicyWatcher::~PolicyWatcher() { Stop(); }

void PolicyWatcher::Start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this, baseline = Look(files_())]() mutable { Run(std::move(baseline)); });
}

void PolicyWatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PolicyWatcher::Run(std::vector<FileState> settled) {
  // settled: what the active policy was read from.
  std::optional<Snapshot> pending;  // a change not yet settled
  Clock::time_point pending_since;
  std::unique_lock<std::mutex> lock(mu_);
  while (!wake_.wait_for(lock, poll_, [this] { return stop_; })) {
    lock.unlock();
    const Snapshot now = Look(files_());
    if (now == settled) {
      pending.reset();
    } else if (!pending || *pending != now) {
      pending = now;  // (still) changing: wait for it to settle
      pending_since = Clock::now();
    } else if (Clock::now() - pending_since >= debounce_) {
      on_change_();
      // The baseline is what the reload saw, not a later look: a write after the reload read
      // the files differs from it and is picked up. Only a new list of files (the new policy
      // names other terms files) needs a fresh look.
      const std::vector<std::string> files = files_();
      settled = files == Paths(now) ? now : Look(files);
      pending.reset();
    }
    lock.lock();
  }
}

}  // namespace airlock::gateway

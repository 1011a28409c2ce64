// PolicyWatcher: reloads the policy when one of its files changes on disk, once the change has
// settled.
//
// It polls the files' status (inode, size, modification and change times) rather than
// subscribing to events, so it sees every way an editor or a deployment tool saves a file:
// written in place, renamed over the old one, deleted and written again, or a symlink swapped
// (the status is of the file the path names). A change is acted on once the files have stayed
// the same for `debounce`: a burst of writes (an editor's save, an rsync) is one reload. After
// a reload the files are those of the policy then active (a new terms_file is watched from
// then on); a reload that fails is not retried until the files change again.
//
// Thread-safety: Start and Stop from one thread; on_change runs on the watcher's own thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace airlock::gateway {

class PolicyWatcher {
 public:
  // files: the paths to watch now (called on the watcher's thread before each look).
  // on_change: reloads; called once per settled change.
  PolicyWatcher(std::function<std::vector<std::string>()> files, std::function<void()> on_change,
                std::chrono::milliseconds debounce);
  ~PolicyWatcher();  // Stop()
  PolicyWatcher(const PolicyWatcher&) = delete;
  PolicyWatcher& operator=(const PolicyWatcher&) = delete;

  // Takes the files' current status as the baseline and starts watching.
  void Start();
  // Stops and joins the thread; returns after any on_change in progress has returned.
  void Stop();

  // How often the files are looked at: a quarter of the debounce, within [10 ms, 250 ms].
  std::chrono::milliseconds poll_interval() const { return poll_; }

  // What is seen of one file; all zero when it cannot be stat'ed (missing is a state too).
  struct FileState {
    std::string path;
    bool exists = false;
    uint64_t inode = 0;
    int64_t size = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const FileState&) const = default;
  };

 private:
  void Run(std::vector<FileState> settled);

  const std::function<std::vector<std::string>()> files_;
  const std::function<void()> on_change_;
  const std::chrono::milliseconds debounce_;
  const std::chrono::milliseconds poll_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace airlock::gateway

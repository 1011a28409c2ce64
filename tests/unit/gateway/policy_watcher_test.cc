// PolicyWatcher: a settled change of a watched file (written in place, renamed over, deleted
// and recreated, or a newly watched file) calls on_change once; a burst of writes is one call;
// nothing changing is no call.
#include "gateway/policy_watcher.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace airlock::gateway {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

class PolicyWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("policy_watcher_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    policy_ = (dir_ / "policy.yaml").string();
    Write(policy_, "version: 1\n");
  }
  void TearDown() override { fs::remove_all(dir_); }

  static void Write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  }

  // Waits (up to a generous bound, for loaded machines) until calls reaches n.
  bool WaitFor(int n) {
    for (int i = 0; i < 2000 && calls_.load() < n; ++i)
      std::this_thread::sleep_for(milliseconds(5));
    return calls_.load() >= n;
  }
  // Gives the watcher several debounce periods to act on anything it has seen.
  void Quiet(milliseconds debounce) { std::this_thread::sleep_for(debounce * 4); }

  std::vector<std::string> Files() {
    std::lock_guard<std::mutex> lock(mu_);
    return files_;
  }

  fs::path dir_;
  std::string policy_;
  std::atomic<int> calls_{0};
  std::mutex mu_;
  std::vector<std::string> files_;
};

TEST_F(PolicyWatcherTest, NoChangeNoReload) {
  files_ = {policy_};
  PolicyWatcher w([this] { return Files(); }, [this] { ++calls_; }, milliseconds(20));
  w.Start();
  Quiet(milliseconds(50));
  w.Stop();
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(PolicyWatcherTest, WriteInPlaceRenameOverAndRecreateEachReloadOnce) {
  files_ = {policy_};
  const milliseconds debounce(30);
  PolicyWatcher w([this] { return Files(); }, [this] { ++calls_; }, debounce);
  w.Start();

  Write(policy_, "version: 1\ndefault: { route: a }\n");  // in place
  ASSERT_TRUE(WaitFor(1));
  Quiet(debounce);
  EXPECT_EQ(calls_.load(), 1);

  const std::string tmp = (dir_ / "policy.yaml.new").string();  // renamed over
  Write(tmp, "version: 1\ndefault: { route: b }\n");
  ASSERT_EQ(std::rename(tmp.c_str(), policy_.c_str()), 0);
  ASSERT_TRUE(WaitFor(2));
  Quiet(debounce);
  EXPECT_EQ(calls_.load(), 2);

  fs::remove(policy_);  // deleted: a change too (the reload will fail and keep the old policy)
  ASSERT_TRUE(WaitFor(3));
  Write(policy_, "version: 1\ndefault: { route: c }\n");  // and back
  ASSERT_TRUE(WaitFor(4));
  Quiet(debounce);
  EXPECT_EQ(calls_.load(), 4);
  w.Stop();
}

TEST_F(PolicyWatcherTest, BurstOfWritesIsOneReloadOnceSettled) {
  files_ = {policy_};
  const milliseconds debounce(400);
  PolicyWatcher w([this] { return Files(); }, [this] { ++calls_; }, debounce);
  w.Start();
  std::string text = "version: 1\n";
  for (int i = 0; i < 20; ++i) {  // each write changes the size: every look sees a difference
    text += "# line\n";
    Write(policy_, text);
  }
  ASSERT_TRUE(WaitFor(1));
  Quiet(debounce);
  w.Stop();
  EXPECT_EQ(calls_.load(), 1);
}

TEST_F(PolicyWatcherTest, WatchesTheFilesOfTheActivePolicy) {
  const std::string terms = (dir_ / "terms.txt").string();
  Write(terms, "Apollo\n");
  files_ = {policy_};
  const milliseconds debounce(20);
  PolicyWatcher w([this] { return Files(); },
                  [this, &terms] {
                    std::lock_guard<std::mutex> lock(mu_);
                    files_ = {policy_, terms};  // the new policy names a terms file
                    ++calls_;
                  },
                  debounce);
  w.Start();
  Write(terms, "Apollo\nGemini\n");  // not watched yet: no reload
  Quiet(debounce);
  EXPECT_EQ(calls_.load(), 0);
  Write(policy_, "version: 1\n# now with terms_file\n");
  ASSERT_TRUE(WaitFor(1));
  Quiet(debounce);
  Write(terms, "Apollo\nGemini\nMercury\n");  // watched now
  ASSERT_TRUE(WaitFor(2));
  w.Stop();
}

TEST_F(PolicyWatcherTest, PollIntervalFollowsTheDebounce) {
  auto files = [] { return std::vector<std::string>{}; };
  EXPECT_EQ(PolicyWatcher(
                files, [] {}, milliseconds(1))
                .poll_interval(),
            milliseconds(10));
  EXPECT_EQ(PolicyWatcher(
                files, [] {}, milliseconds(200))
                .poll_interval(),
            milliseconds(50));
  EXPECT_EQ(PolicyWatcher(
                files, [] {}, milliseconds(5000))
                .poll_interval(),
            milliseconds(250));
}

}  // namespace
}  // namespace airlock::gateway

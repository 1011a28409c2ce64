// The dispatcher: clearance invariant, fallback order, no fallback once streamed, ejection.
#include "gateway/dispatcher.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/unit/gateway/scripted_target.h"

namespace airlock::gateway {
namespace {

using classifier::Level;

struct Fixture {
  explicit Fixture(std::vector<std::unique_ptr<ScriptedTarget>> ts) {
    std::vector<std::unique_ptr<Target>> owned;
    for (auto& t : ts) {
      targets.push_back(t.get());
      owned.push_back(std::move(t));
    }
    registry = std::make_unique<TargetRegistry>(std::move(owned));
  }
  std::shared_ptr<Recorder> Run(Level level, std::vector<std::string> candidates) {
    auto rec = std::make_shared<Recorder>();
    v1::ChatRequest req;
    req.add_messages()->set_content("hello");
    Dispatch(*registry, req, level, candidates, Clock::now() + std::chrono::seconds(5), true, rec,
             nullptr);
    return rec;
  }
  std::vector<ScriptedTarget*> targets;
  std::unique_ptr<TargetRegistry> registry;
};

std::vector<std::unique_ptr<ScriptedTarget>> Targets(
    std::initializer_list<std::tuple<const char*, Level, std::vector<absl::Status>>> spec) {
  std::vector<std::unique_ptr<ScriptedTarget>> out;
  for (const auto& [name, level, results] : spec) {
    out.push_back(std::make_unique<ScriptedTarget>(name, level, results));
  }
  return out;
}

TEST(Dispatcher, NeverSendsAboveClearanceWhateverTheCandidates) {
  for (Level target_clearance : {Level::kPublic, Level::kInternal, Level::kConfidential}) {
    Fixture f(Targets({{"t", target_clearance, {}}}));
    auto rec = f.Run(Level::kRestricted, {"t", "t", "t"});
    EXPECT_TRUE(f.targets[0]->sent.empty());
    EXPECT_EQ(rec->status.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_NE(rec->status.message().find("no target cleared for restricted"), std::string::npos);
    EXPECT_EQ(rec->done_calls, 1);
  }
}

TEST(Dispatcher, SkipsUnclearedTargetAndRecordsWhy) {
  Fixture f(Targets({{"frontier", Level::kPublic, {}}, {"onprem", Level::kConfidential, {}}}));
  auto rec = f.Run(Level::kConfidential, {"frontier", "onprem"});
  ASSERT_TRUE(rec->status.ok()) << rec->status;
  EXPECT_TRUE(f.targets[0]->sent.empty());
  EXPECT_EQ(f.targets[1]->sent.size(), 1u);
  EXPECT_EQ(rec->text, "onprem");
  EXPECT_EQ(rec->route.target, "onprem");
  EXPECT_EQ(rec->route.fallbacks,
            std::vector<std::string>{"frontier: not cleared for confidential (clearance public)"});
}

TEST(Dispatcher, ClearanceEqualToLevelIsAllowed) {
  Fixture f(Targets({{"t", Level::kInternal, {}}}));
  auto rec = f.Run(Level::kInternal, {"t"});
  EXPECT_TRUE(rec->status.ok());
  EXPECT_EQ(f.targets[0]->sent.size(), 1u);
}

TEST(Dispatcher, FallsBackOnTargetFailureBeforeStreaming) {
  Fixture f(Targets({{"a", Level::kRestricted, {absl::UnavailableError("down")}},
                     {"b", Level::kRestricted, {}}}));
  auto rec = f.Run(Level::kPublic, {"a", "b"});
  ASSERT_TRUE(rec->status.ok());
  EXPECT_EQ(rec->route.target, "b");
  ASSERT_EQ(rec->route.fallbacks.size(), 1u);
  EXPECT_EQ(rec->route.fallbacks[0], "a: UNAVAILABLE: down");
}

TEST(Dispatcher, NoFallbackOnceSomethingWasStreamed) {
  std::vector<std::unique_ptr<ScriptedTarget>> ts;
  ts.push_back(std::make_unique<ScriptedTarget>(
      "a", Level::kRestricted, std::vector<absl::Status>{absl::UnavailableError("mid-stream")},
      /*stream_before_error=*/true));
  ts.push_back(
      std::make_unique<ScriptedTarget>("b", Level::kRestricted, std::vector<absl::Status>{}));
  Fixture f(std::move(ts));
  auto rec = f.Run(Level::kPublic, {"a", "b"});
  EXPECT_EQ(rec->status.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(f.targets[1]->sent.empty());
  EXPECT_EQ(rec->text, "a");
}

TEST(Dispatcher, ClientErrorsDoNotFallBack) {
  Fixture f(Targets({{"a", Level::kRestricted, {absl::InvalidArgumentError("bad schema")}},
                     {"b", Level::kRestricted, {}}}));
  auto rec = f.Run(Level::kPublic, {"a", "b"});
  EXPECT_EQ(rec->status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(f.targets[1]->sent.empty());
}

TEST(Dispatcher, AllFailedIsUnavailableWithLastError) {
  Fixture f(Targets({{"a", Level::kRestricted, {absl::UnavailableError("a down")}},
                     {"b", Level::kRestricted, {absl::InternalError("b broke")}}}));
  auto rec = f.Run(Level::kPublic, {"a", "b"});
  EXPECT_EQ(rec->status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(rec->status.message().find("b broke"), std::string::npos);
  EXPECT_EQ(rec->done_calls, 1);
}

TEST(Dispatcher, EjectsAfterConsecutiveFailuresAndSkipsEjected) {
  Fixture f(Targets({{"a", Level::kRestricted, {absl::UnavailableError("down")}},
                     {"b", Level::kRestricted, {}}}));
  f.Run(Level::kPublic, {"a", "b"});
  f.Run(Level::kPublic, {"a", "b"});  // second consecutive failure: ejected
  auto rec = f.Run(Level::kPublic, {"a", "b"});
  EXPECT_EQ(f.targets[0]->sent.size(), 2u);
  EXPECT_EQ(rec->route.target, "b");
  EXPECT_EQ(rec->route.fallbacks,
            std::vector<std::string>{"a: ejected after 2 consecutive failures"});
  EXPECT_FALSE(f.registry->Healthy(*f.registry->Find("a"), Clock::now()));
}

// A target whose engine reports a fault (a CUDA error) is unhealthy and passed over, with the
// fault as the reason; the other targets go on serving.
TEST(Dispatcher, FaultyTargetIsUnhealthyAndSkipped) {
  Fixture f(Targets({{"nano", Level::kRestricted, {}}, {"b", Level::kRestricted, {}}}));
  EXPECT_TRUE(f.registry->Healthy(*f.registry->Find("nano"), Clock::now()));
  f.targets[0]->fault = absl::InternalError("CUDA: a forward step: an illegal memory access");
  EXPECT_FALSE(f.registry->Healthy(*f.registry->Find("nano"), Clock::now()));
  auto rec = f.Run(Level::kPublic, {"nano", "b"});
  EXPECT_TRUE(rec->status.ok()) << rec->status;
  EXPECT_EQ(rec->route.target, "b");
  EXPECT_TRUE(f.targets[0]->sent.empty());
  EXPECT_EQ(
      rec->route.fallbacks,
      std::vector<std::string>{"nano: unhealthy: CUDA: a forward step: an illegal memory access"});
}

TEST(Dispatcher, UnknownTargetIsSkipped) {
  Fixture f(Targets({{"b", Level::kRestricted, {}}}));
  auto rec = f.Run(Level::kPublic, {"ghost", "b"});
  EXPECT_TRUE(rec->status.ok());
  EXPECT_EQ(rec->route.fallbacks, std::vector<std::string>{"ghost: no such target"});
}

TEST(Dispatcher, SelectTargetIsTheDryRunOfDispatch) {
  Fixture f(Targets({{"frontier", Level::kPublic, {}}, {"onprem", Level::kConfidential, {}}}));
  size_t next = 0;
  RouteTrace trace;
  auto* e = SelectTarget(*f.registry, Level::kConfidential, {"frontier", "onprem"}, &next, &trace);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->target->config().name, "onprem");
  EXPECT_EQ(trace.fallbacks.size(), 1u);
  EXPECT_TRUE(f.targets[1]->sent.empty());
}

}  // namespace
}  // namespace airlock::gateway

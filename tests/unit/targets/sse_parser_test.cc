#include "gateway/targets/sse_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace airlock::gateway {
namespace {

std::vector<SseEvent> ParseAll(std::string_view stream, absl::Status* status = nullptr) {
  SseParser parser;
  std::vector<SseEvent> events;
  absl::Status s = parser.Feed(stream, &events);
  if (status) *status = s;
  return events;
}

TEST(SseParserTest, SingleEvent) {
  auto events = ParseAll("data: {\"a\":1}\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "{\"a\":1}");
  EXPECT_EQ(events[0].type, "");
  EXPECT_FALSE(events[0].IsDone());
}

TEST(SseParserTest, EventIsDispatchedOnlyByAnEmptyLine) {
  SseParser parser;
  std::vector<SseEvent> events;
  ASSERT_TRUE(parser.Feed("data: x\n", &events).ok());
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(parser.HasPartialEvent());
  ASSERT_TRUE(parser.Feed("\n", &events).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(parser.HasPartialEvent());
}

TEST(SseParserTest, MultiLineDataIsJoinedWithNewlines) {
  auto events = ParseAll("data: first\ndata:second\ndata:  third\ndata\n\n");
  ASSERT_EQ(events.size(), 1u);
  // One space after the colon is dropped, a second one is kept; "data" alone is an empty line.
  EXPECT_EQ(events[0].data, "first\nsecond\n third\n");
}

TEST(SseParserTest, CommentsAreIgnored) {
  auto events = ParseAll(": keep-alive\n\n:another\ndata: x\n: inside\ndata: y\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "x\ny");
}

TEST(SseParserTest, EventAndIdFields) {
  auto events = ParseAll(
      "event: delta\nid: 7\ndata: a\n\n"
      "data: b\n\n"
      "id\ndata: c\n\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, "delta");
  EXPECT_EQ(events[0].id, "7");
  EXPECT_EQ(events[1].type, "");  // the type does not carry over
  EXPECT_EQ(events[1].id, "7");   // the last event id does
  EXPECT_EQ(events[2].id, "");    // "id" with no value resets it
}

TEST(SseParserTest, UnknownFieldsAndRetryAreIgnored) {
  auto events = ParseAll("retry: 1000\nfoo: bar\ndata: x\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "x");
}

TEST(SseParserTest, EventWithoutDataIsNotDispatched) {
  auto events = ParseAll("event: ping\n\nid: 3\n\ndata: x\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "");
  EXPECT_EQ(events[0].data, "x");
  EXPECT_EQ(events[0].id, "3");
}

TEST(SseParserTest, EmptyDataLineIsAnEvent) {
  auto events = ParseAll("data:\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "");
}

TEST(SseParserTest, DoneMarker) {
  auto events = ParseAll("data: {}\n\ndata: [DONE]\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_FALSE(events[0].IsDone());
  EXPECT_TRUE(events[1].IsDone());
}

TEST(SseParserTest, CrLfCrAndLfLineEndings) {
  auto events = ParseAll("data: a\r\ndata: b\r\r\ndata: c\rdata: d\n\ndata: e\r\r");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].data, "a\nb");
  EXPECT_EQ(events[1].data, "c\nd");
  EXPECT_EQ(events[2].data, "e");
}

TEST(SseParserTest, CrLfSplitAcrossFeedsIsOneLineEnd) {
  SseParser parser;
  std::vector<SseEvent> events;
  ASSERT_TRUE(parser.Feed("data: a\r", &events).ok());
  ASSERT_TRUE(parser.Feed("\ndata: b\r", &events).ok());
  EXPECT_TRUE(events.empty());  // the LF after CR ended nothing
  ASSERT_TRUE(parser.Feed("\n\r", &events).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "a\nb");
}

TEST(SseParserTest, LeadingByteOrderMarkIsSkipped) {
  auto events = ParseAll(
      "\xEF\xBB\xBF"
      "data: x\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "x");
}

// A stream with every feature, cut into two pieces at every byte position and fed byte by
// byte: the events are always the same.
TEST(SseParserTest, FragmentedAtEveryPosition) {
  const std::string stream =
      "\xEF\xBB\xBF: comment\r\n"
      "event: chunk\r\n"
      "id: 1\r\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n"
      "\r\n"
      "data: line one\n"
      "data: line two\n"
      "\n"
      ":ping\r"
      "data:x\r"
      "\r"
      "data: [DONE]\n\n";
  absl::Status status;
  const std::vector<SseEvent> expected = ParseAll(stream, &status);
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(expected.size(), 4u);
  EXPECT_EQ(expected[0].type, "chunk");
  EXPECT_EQ(expected[0].id, "1");
  EXPECT_EQ(expected[0].data, "{\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}");
  EXPECT_EQ(expected[1].data, "line one\nline two");
  EXPECT_EQ(expected[2].data, "x");
  EXPECT_TRUE(expected[3].IsDone());

  auto same = [&](const std::vector<SseEvent>& got, const std::string& how) {
    ASSERT_EQ(got.size(), expected.size()) << how;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].type, expected[i].type) << how << " event " << i;
      EXPECT_EQ(got[i].id, expected[i].id) << how << " event " << i;
      EXPECT_EQ(got[i].data, expected[i].data) << how << " event " << i;
    }
  };
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    SseParser parser;
    std::vector<SseEvent> events;
    ASSERT_TRUE(parser.Feed(std::string_view(stream).substr(0, cut), &events).ok());
    ASSERT_TRUE(parser.Feed(std::string_view(stream).substr(cut), &events).ok());
    same(events, "cut at " + std::to_string(cut));
  }
  SseParser parser;
  std::vector<SseEvent> events;
  for (char c : stream) ASSERT_TRUE(parser.Feed(std::string_view(&c, 1), &events).ok());
  same(events, "byte by byte");
  EXPECT_FALSE(parser.HasPartialEvent());
}

TEST(SseParserTest, OversizedLineFailsAndStaysFailed) {
  SseParser parser(64);
  std::vector<SseEvent> events;
  ASSERT_TRUE(parser.Feed("data: small\n\n", &events).ok());
  absl::Status s = parser.Feed("data: " + std::string(100, 'x'), &events);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("64 bytes"), absl::string_view::npos) << s;
  EXPECT_EQ(parser.Feed("\n\ndata: ok\n\n", &events).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(parser.status().code(), absl::StatusCode::kResourceExhausted);
  ASSERT_EQ(events.size(), 1u);  // only the event before the overflow
}

TEST(SseParserTest, OversizedEventAcrossManyDataLinesFails) {
  SseParser parser(64);
  std::vector<SseEvent> events;
  absl::Status s;
  for (int i = 0; i < 20 && s.ok(); ++i) s = parser.Feed("data: 0123456789\n", &events);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(events.empty());
}

TEST(SseParserTest, EventsBeforeAnOverflowInTheSameFeedAreKept) {
  SseParser parser(32);
  std::vector<SseEvent> events;
  absl::Status s = parser.Feed("data: a\n\ndata: " + std::string(40, 'y') + "\n\n", &events);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "a");
}

TEST(SseParserTest, ManyEventsInOneFeedAndLimitIsPerEvent) {
  SseParser parser(32);
  std::vector<SseEvent> events;
  std::string stream;
  for (int i = 0; i < 100; ++i) stream += "data: " + std::to_string(i) + "\n\n";
  ASSERT_TRUE(parser.Feed(stream, &events).ok());
  ASSERT_EQ(events.size(), 100u);
  EXPECT_EQ(events[99].data, "99");
}

TEST(SseParserTest, TruncatedStreamLeavesAPartialEvent) {
  SseParser parser;
  std::vector<SseEvent> events;
  ASSERT_TRUE(parser.Feed("data: {\"cut", &events).ok());
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(parser.HasPartialEvent());
}

}  // namespace
}  // namespace airlock::gateway

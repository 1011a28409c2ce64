// SseParser: an incremental parser for Server-Sent Events (the `text/event-stream` format of
// the WHATWG HTML standard), as streamed by OpenAI-compatible chat-completions endpoints.
//
//   data: {"choices":[...]}      <- a field line; "data" lines of one event are joined by "\n"
//   : keep-alive                 <- a comment, ignored
//   event: message               <- optional event type
//   id: 42                       <- optional event id (kept for later events, as the standard says)
//                                <- an empty line ends (dispatches) the event
//   data: [DONE]                 <- OpenAI's end-of-stream marker (SseEvent::IsDone)
//
// Bytes may be fed in pieces of any size: an event, a line, a field name or a CRLF pair may be
// split anywhere between two Feed calls. Lines end with CRLF, LF or CR. A leading UTF-8 BOM is
// skipped. A field line without a colon is a field with an empty value; one space after the
// colon is dropped; unknown fields (and `retry`) are ignored; an event without data lines is
// not dispatched.
//
// Memory is bounded: when the event being assembled (its pending line plus its data so far)
// grows beyond `max_event_bytes`, Feed fails with RESOURCE_EXHAUSTED and the parser stays
// failed (every later Feed returns the same error).
//
// Thread-safety: none; one parser per stream, used from one thread (or strand) at a time.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace airlock::gateway {

struct SseEvent {
  std::string type;  // the `event:` field; empty means the default type ("message")
  std::string data;  // the `data:` lines joined with "\n"
  std::string id;    // the last `id:` seen in this stream, if any
  // True for OpenAI's end-of-stream marker: `data: [DONE]`.
  bool IsDone() const { return data == "[DONE]"; }
};

class SseParser {
 public:
  static constexpr size_t kDefaultMaxEventBytes = 4 << 20;

  explicit SseParser(size_t max_event_bytes = kDefaultMaxEventBytes);

  // Parses `bytes` and appends every event completed by them to `*out`, in stream order.
  // Events completed before an error are still appended.
  absl::Status Feed(std::string_view bytes, std::vector<SseEvent>* out);

  // True when bytes of an unfinished event are pending (a stream that ends now was cut off
  // inside an event; the standard says to discard it).
  bool HasPartialEvent() const;

  // The error that stopped the parser, OK while it is healthy.
  const absl::Status& status() const { return status_; }

 private:
  absl::Status ProcessLine(std::vector<SseEvent>* out);
  absl::Status Overflow() const;

  size_t max_event_bytes_;
  std::string line_;             // the current, unfinished line
  std::string data_;             // data lines of the current event, each followed by "\n"
  std::string type_;             // event type of the current event
  std::string last_id_;          // last event id, persists across events
  bool has_data_ = false;        // a data line was seen for the current event
  bool has_fields_ = false;      // any field line was seen for the current event
  bool skip_lf_ = false;         // the previous byte was CR: a following LF ends nothing
  bool at_stream_start_ = true;  // a UTF-8 BOM may still have to be skipped
  absl::Status status_;
};

}  // namespace airlock::gateway

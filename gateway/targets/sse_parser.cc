#include "gateway/targets/sse_parser.h"

#include "absl/strings/str_cat.h"

namespace airlock::gateway {

SseParser::SseParser(size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

bool SseParser::HasPartialEvent() const { return !line_.empty() || has_fields_; }

absl::Status SseParser::Overflow() const {
  return absl::ResourceExhaustedError(
      absl::StrCat("server-sent event larger than the limit of ", max_event_bytes_, " bytes"));
}

absl::Status SseParser::Feed(std::string_view bytes, std::vector<SseEvent>* out) {
  if (!status_.ok()) return status_;
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (bytes[pos] == '\n') {
        ++pos;
        continue;
      }
    }
    size_t end = bytes.find_first_of("\r\n", pos);
    std::string_view piece = bytes.substr(pos, end == std::string_view::npos ? end : end - pos);
    if (line_.size() + piece.size() + data_.size() > max_event_bytes_) {
      status_ = Overflow();
      return status_;
    }
    line_.append(piece);
    if (end == std::string_view::npos) break;
    skip_lf_ = bytes[end] == '\r';
    pos = end + 1;
    if (absl::Status s = ProcessLine(out); !s.ok()) {
      status_ = s;
      return status_;
    }
  }
  return absl::OkStatus();
}

absl::Status SseParser::ProcessLine(std::vector<SseEvent>* out) {
  std::string_view line = line_;
  if (at_stream_start_) {
    at_stream_start_ = false;
    if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
  }
  if (line.empty()) {  // end of the event
    if (has_data_) {
      SseEvent event;
      event.type = std::move(type_);
      event.data = std::move(data_);
      event.data.pop_back();  // the "\n" after the last data line
      event.id = last_id_;
      out->push_back(std::move(event));
    }
    data_.clear();
    type_.clear();
    has_data_ = false;
    has_fields_ = false;
    line_.clear();
    return absl::OkStatus();
  }
  if (line.front() == ':') {  // a comment
    line_.clear();
    return absl::OkStatus();
  }
  std::string_view name = line;
  std::string_view value;
  if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    name = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  has_fields_ = true;
  if (name == "data") {
    if (data_.size() + value.size() + 1 > max_event_bytes_) return Overflow();
    data_.append(value);
    data_.push_back('\n');
    has_data_ = true;
  } else if (name == "event") {
    type_.assign(value);
  } else if (name == "id") {
    if (value.find('\0') == std::string_view::npos) last_id_.assign(value);
  }
  // "retry" and unknown fields are ignored.
  line_.clear();
  return absl::OkStatus();
}

}  // namespace airlock::gateway

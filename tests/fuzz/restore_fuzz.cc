// Fuzz target: restoring pseudonyms in a text that arrives in arbitrary chunks, and finding
// mangled placeholders.
//
// Input: when it contains 0x1E, the part before the first 0x1E holds settings (byte 0: number
// of map entries, mod 8; the rest seeds the chunking), the next parts are map entries
// ("label" 0x1F "value"), and the rest (0x1E bytes included) is the answer text. Without 0x1E,
// the map is {<EMAIL_1>, <EMAIL_2>, <AWS_ACCESS_KEY_1>} and the whole input is the text.
//
// Checked: StreamRestorer's output over several chunkings (random sizes, one byte at a time
// for short texts) equals Restore on the whole text, and its mangled report equals
// FindMangledPlaceholders on the whole text; the report is well formed (runs in order, not
// overlapping, each the text at its offset, at most kMaxListed listed); a text without '<'
// is unchanged; each placeholder alone restores to its value; RestoreResponse agrees.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "router/transform.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace router = airlock::router;
namespace v1 = airlock::v1;

struct Rng {
  uint64_t state;
  uint64_t Next() {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 2685821657736338717ULL;
  }
};

bool SameReport(const router::MangledReport& x, const router::MangledReport& y) {
  if (x.count != y.count || x.runs.size() != y.runs.size()) return false;
  for (size_t i = 0; i < x.runs.size(); ++i) {
    if (x.runs[i].offset != y.runs[i].offset || x.runs[i].text != y.runs[i].text) return false;
  }
  return true;
}

void CheckStream(const router::PseudonymMap& map, std::string_view text, Rng rng, size_t max_chunk,
                 const std::string& whole, const router::MangledReport& whole_report) {
  router::StreamRestorer stream(&map);
  std::string out;
  size_t at = 0;
  while (at < text.size()) {
    const size_t n = max_chunk <= 1 ? 1 : static_cast<size_t>(rng.Next() % (max_chunk + 1));
    out += stream.Push(text.substr(at, n));  // n may be 0: an empty chunk
    at += n;
  }
  out += stream.Finish();
  FUZZ_CHECK(out == whole, "stream output != Restore(whole text)");
  FUZZ_CHECK(SameReport(stream.mangled(), whole_report), "stream mangled report differs");
  FUZZ_CHECK(stream.Finish().empty(), "a second Finish returned text");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  router::PseudonymMap map;
  std::string_view text = bytes;
  uint64_t seed = 0x2545F4914F6CDD1DULL;
  const size_t first = bytes.find('\x1e');
  if (first == std::string_view::npos) {
    map.PlaceholderFor("EMAIL", "bob@example.org");
    map.PlaceholderFor("EMAIL", "alice@example.com");
    map.PlaceholderFor("AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE");
  } else {
    const std::string_view settings = bytes.substr(0, first);
    text = bytes.substr(first + 1);
    const size_t entries = settings.empty() ? 0 : static_cast<unsigned char>(settings[0]) % 8;
    for (size_t i = 1; i < settings.size(); ++i) {
      seed = seed * 1099511628211ULL + static_cast<unsigned char>(settings[i]);
    }
    for (size_t e = 0; e < entries; ++e) {
      const size_t end = text.find('\x1e');
      const std::string_view entry = text.substr(0, end);
      const size_t sep = entry.find('\x1f');
      const std::string_view label = entry.substr(0, sep);
      const std::string_view value =
          sep == std::string_view::npos ? std::string_view() : entry.substr(sep + 1);
      map.PlaceholderFor(label.empty() ? "EMAIL" : label, value);
      text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    }
  }

  router::MangledReport report;
  const std::string whole = router::Restore(map, text, &report);
  FUZZ_CHECK(SameReport(report, router::FindMangledPlaceholders(map, text)),
             "Restore's mangled report != FindMangledPlaceholders");
  FUZZ_CHECK(report.runs.size() == std::min(report.count, router::MangledReport::kMaxListed),
             "mangled list size");
  size_t last_end = 0;
  for (const auto& run : report.runs) {
    FUZZ_CHECK(run.offset >= last_end && !run.text.empty(), "mangled runs overlap or are empty");
    FUZZ_CHECK(run.offset + run.text.size() <= text.size() &&
                   text.substr(run.offset, run.text.size()) == run.text,
               "a mangled run is not the text at its offset");
    FUZZ_CHECK(map.Original(run.text) == nullptr, "an exact placeholder reported as mangled");
    last_end = run.offset + run.text.size();
  }
  if (text.find('<') == std::string_view::npos) {
    FUZZ_CHECK(whole == text, "a text without '<' was changed");
  }
  for (const auto& [placeholder, value] : map.entries()) {
    FUZZ_CHECK(router::Restore(map, placeholder) == value, "a placeholder does not restore");
  }

  Rng rng{seed ^ size};
  for (size_t max_chunk : {size_t{1}, size_t{3}, size_t{17}, size_t{4096}}) {
    if (text.size() > 4096 && max_chunk < 17) continue;  // tiny chunks: short texts only
    rng.Next();
    CheckStream(map, text, rng, max_chunk, whole, report);
  }

  v1::ChatResponse response;
  response.set_content(std::string(text));
  v1::ToolCall* call = response.add_tool_calls();
  call->set_name(std::string(text));
  call->set_arguments(std::string(text));
  const size_t mangled = router::RestoreResponse(map, &response);
  FUZZ_CHECK(response.content() == whole && response.tool_calls(0).arguments() == whole &&
                 response.tool_calls(0).name() == whole,
             "RestoreResponse != Restore");
  FUZZ_CHECK(map.empty() ? mangled == 0 : mangled == 3 * report.count,
             "RestoreResponse's mangled count");
  return 0;
}

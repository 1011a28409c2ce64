// A standalone driver for fuzz targets (LLVMFuzzerTestOneInput) where libFuzzer is not
// available (g++ builds): it runs every input of the given corpus folders and files, then a
// fixed number of deterministic pseudo-random mutations of them, so that the run is the same
// on every machine and can be a test.
//
//   NAME_fuzz [--mutations N] [--seed S] [--max-len BYTES] CORPUS_DIR_OR_FILE...
//
// Inputs: every regular file under each folder (recursively, sorted by path), then for each
// of them a "huge" variant (the input repeated to at least 1 MiB), then N mutations (default
// 2000; seed default 1). A mutation picks an input, applies 1 to 8 edits (flip a bit, set a
// byte to an interesting value, insert or erase a range, duplicate a range, splice a piece of
// another input, insert a token that targets like to see: "<EMAIL_1>", "@", "\xff", ...) and
// keeps the result at most --max-len bytes (default 64 KiB).
//
// When a target crashes (a failed FUZZ_CHECK aborts, a sanitizer reports an error), the input
// that was running is written to ./fuzz-crash-NAME (and its path printed) so that it can be
// replayed: `NAME_fuzz ./fuzz-crash-NAME`. Exit status 0 when every input ran, 2 on bad
// arguments or an unreadable corpus.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

// Under ASan the sanitizer reports the error and exits itself; it calls us back first.
#if defined(__SANITIZE_ADDRESS__)
#define AIRLOCK_HAVE_SANITIZER_CALLBACK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AIRLOCK_HAVE_SANITIZER_CALLBACK 1
#endif
#endif
#ifdef AIRLOCK_HAVE_SANITIZER_CALLBACK
#include <sanitizer/common_interface_defs.h>
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

using namespace std::string_view_literals;

namespace {

// The input being run, for the crash handlers (which may only call async-signal-safe code).
const uint8_t* g_current = nullptr;
size_t g_current_size = 0;
char g_crash_path[512] = "fuzz-crash-input";

void SaveCurrentInput() {
  static bool saved = false;
  if (saved || g_current == nullptr) return;
  saved = true;
  const int fd = ::open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  size_t done = 0;
  while (done < g_current_size) {
    const ssize_t n = ::write(fd, g_current + done, g_current_size - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  const char msg[] = "fuzz driver: the crashing input was written to ";
  (void)!::write(2, msg, sizeof(msg) - 1);
  (void)!::write(2, g_crash_path, std::strlen(g_crash_path));
  (void)!::write(2, "\n", 1);
}

void OnSignal(int sig) {
  SaveCurrentInput();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

struct Rng {  // xorshift64*: small, fast, and the same everywhere
  uint64_t state;
  uint64_t Next() {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 2685821657736338717ULL;
  }
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Next() % n); }
};

constexpr std::string_view kTokens[] = {"<EMAIL_1>"sv,
                                        "<EMAIL_2>"sv,
                                        "<EMAIL 1>"sv,
                                        "[EMAIL_1]"sv,
                                        "<"sv,
                                        ">"sv,
                                        "["sv,
                                        "]"sv,
                                        "_"sv,
                                        "@"sv,
                                        ".com"sv,
                                        "example.org"sv,
                                        "\xff"sv,
                                        "\xc3"sv,
                                        "\xe2\x82"sv,
                                        "\xed\xa0\x80"sv,
                                        "\0"sv,
                                        "\x1e"sv,
                                        "\x1f"sv,
                                        "\n"sv,
                                        "{\"a\":"sv,
                                        "[[[[[[[["sv,
                                        "\"}"sv,
                                        "\\u0000"sv,
                                        "4111 1111 1111 1111"sv,
                                        "AKIA"sv,
                                        "-----BEGIN RSA PRIVATE KEY-----"sv,
                                        "password="sv,
                                        "eyJhbGciOiJIUzI1NiJ9."sv,
                                        "+1 415 555 0100"sv,
                                        "DE89370400440532013000"sv,
                                        "192.168.0.1"sv,
                                        "::1"sv,
                                        "123-45-6789"sv,
                                        "```"sv,
                                        "$$"sv};
constexpr uint8_t kInteresting[] = {0, 1, 0x1e, 0x1f, 0x7f, 0x80, 0xbf, 0xc0, 0xff, '<', '>', '@'};

std::string Mutate(const std::vector<std::string>& inputs, Rng& rng, size_t max_len) {
  std::string s = inputs[rng.Below(inputs.size())];
  const size_t edits = 1 + rng.Below(8);
  for (size_t e = 0; e < edits; ++e) {
    switch (rng.Below(7)) {
      case 0:  // flip a bit
        if (!s.empty()) s[rng.Below(s.size())] ^= static_cast<char>(1u << rng.Below(8));
        break;
      case 1:  // set a byte to an interesting value
        if (!s.empty()) {
          s[rng.Below(s.size())] = static_cast<char>(kInteresting[rng.Below(sizeof(kInteresting))]);
        }
        break;
      case 2: {  // insert random bytes
        const size_t at = rng.Below(s.size() + 1);
        std::string bytes(1 + rng.Below(8), '\0');
        for (char& c : bytes) c = static_cast<char>(rng.Next());
        s.insert(at, bytes);
        break;
      }
      case 3:  // erase a range
        if (!s.empty()) {
          const size_t at = rng.Below(s.size());
          s.erase(at, 1 + rng.Below(std::min<size_t>(s.size() - at, 32)));
        }
        break;
      case 4:  // duplicate a range
        if (!s.empty()) {
          const size_t at = rng.Below(s.size());
          const std::string piece = s.substr(at, 1 + rng.Below(64));
          s.insert(rng.Below(s.size() + 1), piece);
        }
        break;
      case 5: {  // splice a piece of another input
        const std::string& other = inputs[rng.Below(inputs.size())];
        if (!other.empty()) {
          const size_t at = rng.Below(other.size());
          s.insert(rng.Below(s.size() + 1), other.substr(at, 1 + rng.Below(128)));
        }
        break;
      }
      default: {  // insert a token
        const std::string_view t = kTokens[rng.Below(std::size(kTokens))];
        s.insert(rng.Below(s.size() + 1), t.data(), t.size());
        break;
      }
    }
  }
  if (s.size() > max_len) s.resize(max_len);
  return s;
}

void Run(const std::string& input) {
  // A copy in its own allocation, so that reads past the end are caught by ASan.
  std::vector<uint8_t> copy(input.begin(), input.end());
  const uint8_t* data = copy.empty() ? nullptr : copy.data();
  g_current = data;
  g_current_size = copy.size();
  LLVMFuzzerTestOneInput(data, copy.size());
  g_current = nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  size_t mutations = 2000;
  uint64_t seed = 1;
  size_t max_len = 64 << 10;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fuzz driver: %s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--mutations") {
      mutations = std::strtoull(value("--mutations"), nullptr, 10);
    } else if (arg == "--seed") {
      seed = std::strtoull(value("--seed"), nullptr, 10);
    } else if (arg == "--max-len") {
      max_len = std::strtoull(value("--max-len"), nullptr, 10);
    } else if (arg.starts_with("-")) {
      std::fprintf(stderr,
                   "fuzz driver: unknown option %s\nusage: %s [--mutations N] [--seed S] "
                   "[--max-len BYTES] CORPUS_DIR_OR_FILE...\n",
                   arg.c_str(), argv[0]);
      return 2;
    } else {
      paths.push_back(arg);
    }
  }
  const std::string name = std::filesystem::path(argv[0]).filename().string();
  std::snprintf(g_crash_path, sizeof(g_crash_path), "fuzz-crash-%s", name.c_str());
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) ::signal(sig, OnSignal);
#ifdef AIRLOCK_HAVE_SANITIZER_CALLBACK
  __sanitizer_set_death_callback(SaveCurrentInput);
#endif

  std::vector<std::string> files;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(p, ec)) {
        if (entry.is_regular_file()) files.push_back(entry.path().string());
      }
      if (ec) {
        std::fprintf(stderr, "fuzz driver: cannot list %s: %s\n", p.c_str(), ec.message().c_str());
        return 2;
      }
    } else if (std::filesystem::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      std::fprintf(stderr, "fuzz driver: %s is not a file or folder\n", p.c_str());
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> inputs;
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "fuzz driver: cannot read %s\n", f.c_str());
      return 2;
    }
    inputs.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (inputs.empty()) inputs.emplace_back();  // at least the empty input

  size_t runs = 0, bytes = 0;
  for (const std::string& input : inputs) {
    Run(input);
    ++runs;
    bytes += input.size();
  }
  for (const std::string& input : inputs) {  // huge variants
    if (input.empty()) continue;
    std::string huge;
    huge.reserve((1 << 20) + input.size());
    while (huge.size() < (1 << 20)) huge += input;
    Run(huge);
    ++runs;
    bytes += huge.size();
  }
  Rng rng{seed * 0x9E3779B97F4A7C15ULL + 1};
  for (size_t m = 0; m < mutations; ++m) {
    const std::string input = Mutate(inputs, rng, max_len);
    Run(input);
    ++runs;
    bytes += input.size();
  }
  std::printf("%s: %zu corpus inputs, %zu runs, %zu bytes, no failure\n", name.c_str(),
              inputs.size(), runs, bytes);
  return 0;
}

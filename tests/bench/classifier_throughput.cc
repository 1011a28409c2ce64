// bench_classifier_throughput: how fast Classifier::Assess is on typical requests, by request
// size and by number of custom terms in the policy.
//
//   bench_classifier_throughput [--kinds prose,typical] [--sizes 1,8,64] [--terms 0,200,5000]
//                               [--duration-s 1] [--warmup-s 0.2] [--rounds 10]
//
// For each kind of text (see below), size (KiB) and number of custom terms (a row), one thread
// calls Assess on the same request over and over for the duration (after a warm-up that is not
// measured). The duration is taken in --rounds slices, the rows' slices in turn (row 1, row 2,
// ..., row 1, ...), so that a spell of a few seconds when a shared machine runs slower falls
// on every row's slices alike rather than on one row. It reports:
//   MB/s cpu   request bytes assessed per second of the thread's CPU time (MB = 10^6 bytes),
//              the median of the row's slices: throughput per core, robust to other processes
//              on the machine
//   MB/s wall  the same per second of wall-clock time
//   p50/p99    latency of one Assess call (wall clock) over all the row's calls, microseconds
//   findings   number of findings in the request (a sanity check that detectors ran)
// Text kinds, generated deterministically (fixed seed), as a system prompt plus user and
// assistant turns that together reach the size:
//   prose    English prose, no sensitive data;
//   typical  prose with a PII value (e-mail, phone, card, IBAN, IPv4 in turn) after ~300 bytes
//            and then every ~1 KB, a code block after ~600 bytes and then every ~2 KB, and
//            one of the custom terms after ~400 bytes and then every ~3 KB (per turn).
// Custom terms are one case-insensitive term list (category custom.codename, confidential) of
// generated code names, compiled by Classifier::Create next to the built-in rules.
// The goal lines at the end check: >= 200 MB/s per core (cpu) on every prose row, and
// p99 <= 1 ms for typical 8 KiB with 200 terms. Exit status 0 (the goals are reported, not
// enforced), 1 when a classifier cannot be built, 2 on bad arguments.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "classifier/classifier.h"

namespace {

using airlock::classifier::Classifier;
using airlock::classifier::ClassifierOptions;
using airlock::classifier::Level;
using airlock::classifier::TermList;
namespace v1 = airlock::v1;
using Clock = std::chrono::steady_clock;

struct Rng {
  uint64_t state;
  uint64_t Next() {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 2685821657736338717ULL;
  }
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }
};

constexpr const char* kWords[] = {
    "the",      "quarterly", "report",   "shows",   "that",    "our",      "team",
    "has",      "improved",  "delivery", "of",      "new",     "features", "while",
    "keeping",  "costs",     "within",   "budget",  "and",     "we",       "expect",
    "further",  "growth",    "in",       "next",    "year",    "customer", "feedback",
    "remains",  "positive",  "although", "several", "issues",  "were",     "raised",
    "about",    "latency",   "during",   "peak",    "hours",   "please",   "review",
    "attached", "summary",   "before",   "meeting", "on",      "Thursday", "a",
    "to",       "is",        "for",      "with",    "this",    "service",  "migration",
    "database", "schedule",  "should",   "be",      "updated", "by",       "end",
    "week",     "it",        "will",     "help",    "us",      "plan",     "capacity"};

std::string Sentence(Rng& rng) {
  std::string s;
  const size_t n = 8 + rng.Below(14);
  for (size_t i = 0; i < n; ++i) {
    std::string w = kWords[rng.Below(std::size(kWords))];
    if (i == 0) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
    if (i > 0) s += ' ';
    s += w;
    if (i + 1 < n && rng.Below(9) == 0) s += ',';
  }
  return s + ". ";
}

std::string Term(size_t i) {  // "Falcon-17", "Marlowe Kestrel 203", ...
  static constexpr const char* kRoots[] = {"Falcon",   "Kestrel", "Marlowe", "Osprey",  "Nightjar",
                                           "Tamarind", "Quasar",  "Juniper", "Halcyon", "Sable"};
  const char* a = kRoots[i % std::size(kRoots)];
  const char* b = kRoots[(i / std::size(kRoots)) % std::size(kRoots)];
  return std::string(a) + (i % 3 == 0 ? "-" : " ") + b + " " + std::to_string(i);
}

std::string Pii(Rng& rng, size_t k) {
  switch (k % 5) {
    case 0:
      return "jane.doe" + std::to_string(rng.Below(100)) + "@example.com";
    case 1:
      return "+1 415 555 01" + std::to_string(10 + rng.Below(89));
    case 2:
      return "4111 1111 1111 1111";
    case 3:
      return "DE89 3704 0044 0532 0130 00";
    default:
      return "192.168." + std::to_string(rng.Below(255)) + "." + std::to_string(rng.Below(255));
  }
}

constexpr std::string_view kCode =
    "\n```python\ndef rebalance(shards, target):\n    moved = 0\n    for s in sorted(shards, "
    "key=lambda s: s.load):\n        if s.load > target:\n            moved += s.split()\n    "
    "return moved\n```\n";

// A text of `bytes` bytes (about): prose, or prose with PII, code and some terms.
std::string Text(size_t bytes, bool typical, size_t terms, Rng& rng) {
  std::string s;
  size_t next_pii = 300, next_code = 600, next_term = 400, k = 0;
  while (s.size() < bytes) {
    s += Sentence(rng);
    if (!typical) continue;
    if (s.size() >= next_pii) {
      s += "Contact: " + Pii(rng, k++) + ". ";
      next_pii += 1000;
    }
    if (s.size() >= next_code) {
      s += kCode;
      next_code += 2000;
    }
    if (terms > 0 && s.size() >= next_term) {
      s += "This concerns project " + Term(rng.Below(terms)) + ". ";
      next_term += 3000;
    }
  }
  s.resize(bytes);
  return s;
}

v1::ChatRequest Request(size_t bytes, bool typical, size_t terms) {
  Rng rng{0x9E3779B97F4A7C15ULL + bytes * 31 + terms + (typical ? 7 : 0)};
  v1::ChatRequest r;
  const std::string system = "You are a helpful assistant for the operations team. Be concise.";
  auto* m = r.add_messages();
  m->set_role(v1::Message::SYSTEM);
  m->set_content(system);
  const size_t rest = bytes > system.size() ? bytes - system.size() : 0;
  const size_t user1 = rest / 2, assistant = rest / 4, user2 = rest - user1 - assistant;
  m = r.add_messages();
  m->set_role(v1::Message::USER);
  m->set_content(Text(user1, typical, terms, rng));
  m = r.add_messages();
  m->set_role(v1::Message::ASSISTANT);
  m->set_content(Text(assistant, typical, terms, rng));
  m = r.add_messages();
  m->set_role(v1::Message::USER);
  m->set_content(Text(user2, typical, terms, rng));
  return r;
}

size_t RequestBytes(const v1::ChatRequest& r) {
  size_t n = 0;
  for (const auto& m : r.messages()) n += m.content().size();
  return n;
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Row {
  std::string kind;
  size_t kib = 0, terms = 0, bytes = 0, findings = 0, calls = 0;
  double mbps_cpu = 0, mbps_wall = 0, p50_us = 0, p99_us = 0;
  // While measuring:
  const Classifier* classifier = nullptr;
  v1::ChatRequest request;
  std::vector<double> latencies, slice_cpu, slice_wall;  // us; MB/s of each slice
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Calls Assess for `seconds` (at least a few calls) and adds the slice to the row.
void MeasureSlice(Row* row, double seconds) {
  const double cpu0 = ThreadCpuSeconds();
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  auto now = start;
  size_t calls = 0;
  while (now < end || calls < 3) {
    const auto t = Clock::now();
    (void)row->classifier->Assess(row->request);
    now = Clock::now();
    row->latencies.push_back(std::chrono::duration<double, std::micro>(now - t).count());
    ++calls;
  }
  const double cpu = ThreadCpuSeconds() - cpu0;
  const double wall = std::chrono::duration<double>(now - start).count();
  const double total = static_cast<double>(row->bytes) * static_cast<double>(calls);
  row->slice_cpu.push_back(cpu > 0 ? total / cpu / 1e6 : 0);
  row->slice_wall.push_back(wall > 0 ? total / wall / 1e6 : 0);
}

void Summarise(Row* row) {
  row->calls = row->latencies.size();
  row->mbps_cpu = Median(row->slice_cpu);
  row->mbps_wall = Median(row->slice_wall);
  std::vector<double>& l = row->latencies;
  std::sort(l.begin(), l.end());
  const auto pct = [&](double p) {
    const size_t i = std::min(l.size() - 1, static_cast<size_t>(p * static_cast<double>(l.size())));
    return l[i];
  };
  row->p50_us = pct(0.50);
  row->p99_us = pct(0.99);
}

bool ParseList(const char* s, std::vector<size_t>* out) {
  out->clear();
  std::string item;
  for (const char* p = s;; ++p) {
    if (*p == ',' || *p == '\0') {
      if (item.empty()) return false;
      char* end = nullptr;
      const unsigned long long v = std::strtoull(item.c_str(), &end, 10);
      if (*end != '\0') return false;
      out->push_back(static_cast<size_t>(v));
      item.clear();
      if (*p == '\0') return true;
    } else {
      item += *p;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> sizes = {1, 8, 64}, term_counts = {0, 200, 5000};
  std::vector<std::string> kinds = {"prose", "typical"};
  double duration_s = 1.0, warmup_s = 0.2;
  size_t rounds = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    bool ok = value != nullptr;
    if (arg == "--kinds" && ok) {
      kinds.clear();
      for (std::string_view rest = value; ok && !rest.empty();) {
        const size_t comma = std::min(rest.find(','), rest.size());
        kinds.emplace_back(rest.substr(0, comma));
        ok = kinds.back() == "prose" || kinds.back() == "typical";
        rest.remove_prefix(std::min(comma + 1, rest.size()));
      }
      ok = ok && !kinds.empty();
    } else if (arg == "--sizes" && ok) {
      ok = ParseList(value, &sizes);
    } else if (arg == "--terms" && ok) {
      ok = ParseList(value, &term_counts);
    } else if (arg == "--duration-s" && ok) {
      duration_s = std::atof(value);
      ok = duration_s > 0;
    } else if (arg == "--warmup-s" && ok) {
      warmup_s = std::atof(value);
      ok = warmup_s >= 0;
    } else if (arg == "--rounds" && ok) {
      char* end = nullptr;
      rounds = std::strtoul(value, &end, 10);
      ok = *end == '\0' && rounds >= 1;
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr,
                   "usage: %s [--kinds prose,typical] [--sizes 1,8,64] [--terms 0,200,5000] "
                   "[--duration-s 1] [--warmup-s 0.2] [--rounds 10]\n",
                   argv[0]);
      return 2;
    }
    ++i;
  }

  std::vector<std::unique_ptr<Classifier>> classifiers;
  std::vector<Row> rows;
  std::vector<std::string> notes;
  for (size_t terms : term_counts) {
    ClassifierOptions options;
    if (terms > 0) {
      TermList list;
      list.category = "custom.codename";
      list.level = Level::kConfidential;
      list.name = "codenames";
      for (size_t i = 0; i < terms; ++i) list.terms.push_back(Term(i));
      options.term_lists.push_back(std::move(list));
    }
    const auto t0 = Clock::now();
    auto classifier = Classifier::Create(options);
    const double build_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!classifier.ok()) {
      std::fprintf(stderr, "bench_classifier_throughput: %zu terms: %s\n", terms,
                   std::string(classifier.status().message()).c_str());
      return 1;
    }
    char note[128];
    std::snprintf(note, sizeof note, "Classifier::Create with %zu terms: %.1f ms", terms, build_ms);
    notes.push_back(note);
    classifiers.push_back(std::move(*classifier));
    for (const std::string& kind : kinds) {
      for (size_t kib : sizes) {
        Row row;
        row.kind = kind;
        row.kib = kib;
        row.terms = terms;
        row.classifier = classifiers.back().get();
        row.request = Request(kib * 1024, kind[0] == 't', terms);
        row.bytes = RequestBytes(row.request);
        row.findings = row.classifier->Assess(row.request).findings.size();
        rows.push_back(std::move(row));
      }
    }
  }
  for (Row& row : rows) {  // warm-up, not measured
    const auto warm_end = Clock::now() + std::chrono::duration<double>(warmup_s);
    while (Clock::now() < warm_end) (void)row.classifier->Assess(row.request);
  }
  for (size_t round = 0; round < rounds; ++round) {
    std::fprintf(stderr, "round %zu of %zu...\n", round + 1, rounds);
    for (Row& row : rows) MeasureSlice(&row, duration_s / static_cast<double>(rounds));
  }
  for (Row& row : rows) Summarise(&row);

  std::printf("%-8s %6s %6s %10s %10s %10s %10s %9s %8s\n", "text", "KiB", "terms", "MB/s cpu",
              "MB/s wall", "p50 us", "p99 us", "findings", "calls");
  for (const Row& r : rows) {
    std::printf("%-8s %6zu %6zu %10.1f %10.1f %10.1f %10.1f %9zu %8zu\n", r.kind.c_str(), r.kib,
                r.terms, r.mbps_cpu, r.mbps_wall, r.p50_us, r.p99_us, r.findings, r.calls);
  }
  std::printf("\n");
  for (const std::string& n : notes) std::printf("%s\n", n.c_str());

  const Row* worst_prose = nullptr;
  const Row* p99_cell = nullptr;
  for (const Row& r : rows) {
    if (r.kind == "prose" && (worst_prose == nullptr || r.mbps_cpu < worst_prose->mbps_cpu)) {
      worst_prose = &r;
    }
    if (r.kind == "typical" && r.kib == 8 && r.terms == 200) p99_cell = &r;
  }
  if (worst_prose != nullptr) {
    std::printf(
        "goal: >= 200 MB/s per core on prose: %s (slowest prose row: %zu KiB, %zu terms, "
        "%.1f MB/s cpu)\n",
        worst_prose->mbps_cpu >= 200 ? "met" : "NOT MET", worst_prose->kib, worst_prose->terms,
        worst_prose->mbps_cpu);
  }
  if (p99_cell != nullptr) {
    std::printf("goal: p99 <= 1 ms for typical 8 KiB with 200 terms: %s (p99 %.1f us)\n",
                p99_cell->p99_us <= 1000 ? "met" : "NOT MET", p99_cell->p99_us);
  } else {
    std::printf(
        "goal: p99 <= 1 ms for typical 8 KiB with 200 terms: not measured (add 8 to "
        "--sizes and 200 to --terms)\n");
  }
  return 0;
}

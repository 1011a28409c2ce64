// PrefixCache: prefills kept for reuse (DESIGN.md's classification reuse). The classifier's
// model stage prefills a request's conversation once; the sequence, forked at a chunk edge
// (Backend::Fork, RuntimeRequest::fork_at), waits here with the prompt tokens it holds, and the
// generation of that request, if it goes to the same model, starts from it
// (RuntimeRequest::start) instead of prefilling those tokens again.
//
// Take hands out the entry whose tokens are the longest proper prefix of a prompt; an entry is
// taken once. Entries older than `ttl` are dropped, and beyond `capacity` entries the oldest
// go: the cache holds sequence state outside the runtime's memory budget, so it stays small
// and short-lived (a prefill waits here for the time between a request's assessment and its
// dispatch).
//
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "engine/backend.h"

namespace airlock::engine {

class PrefixCache {
 public:
  using Clock = std::chrono::steady_clock;
  PrefixCache(size_t capacity, std::chrono::milliseconds ttl);

  // Keeps `sequence`, which holds `tokens` (sequence->position of them).
  void Put(std::vector<int32_t> tokens, std::unique_ptr<Sequence> sequence);
  // The entry for the longest proper prefix of `prompt`, removed from the cache; null if none.
  std::unique_ptr<Sequence> Take(std::span<const int32_t> prompt);

  struct Stats {
    size_t entries = 0;
    uint64_t hits = 0;     // Take found an entry
    uint64_t misses = 0;   // Take found none
    uint64_t dropped = 0;  // expired or pushed out unused
  };
  Stats stats() const;

 private:
  struct Entry {
    std::vector<int32_t> tokens;
    std::unique_ptr<Sequence> sequence;
    Clock::time_point added;
  };
  void Expire(Clock::time_point now);  // mu_ held

  const size_t capacity_;
  const std::chrono::milliseconds ttl_;
  mutable std::mutex mu_;
  std::deque<Entry> entries_;  // oldest first
  Stats stats_;
};

}  // namespace airlock::engine

#include "engine/prefix_cache.h"

#include <algorithm>

namespace airlock::engine {

PrefixCache::PrefixCache(size_t capacity, std::chrono::milliseconds ttl)
    : capacity_(capacity), ttl_(ttl) {}

void PrefixCache::Expire(Clock::time_point now) {
  while (!entries_.empty() &&
         (entries_.size() > capacity_ || now - entries_.front().added >= ttl_)) {
    entries_.pop_front();
    ++stats_.dropped;
  }
}

void PrefixCache::Put(std::vector<int32_t> tokens, std::unique_ptr<Sequence> sequence) {
  std::lock_guard<std::mutex> lock(mu_);
  if (capacity_ == 0 || sequence == nullptr) return;
  entries_.push_back({std::move(tokens), std::move(sequence), Clock::now()});
  Expire(Clock::now());
}

std::unique_ptr<Sequence> PrefixCache::Take(std::span<const int32_t> prompt) {
  std::lock_guard<std::mutex> lock(mu_);
  Expire(Clock::now());
  auto best = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const std::vector<int32_t>& t = it->tokens;
    if (t.size() < prompt.size() && std::equal(t.begin(), t.end(), prompt.begin()) &&
        (best == entries_.end() || t.size() > best->tokens.size())) {
      best = it;
    }
  }
  if (best == entries_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  std::unique_ptr<Sequence> s = std::move(best->sequence);
  entries_.erase(best);
  ++stats_.hits;
  return s;
}

PrefixCache::Stats PrefixCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s = stats_;
  s.entries = entries_.size();
  return s;
}

}  // namespace airlock::engine

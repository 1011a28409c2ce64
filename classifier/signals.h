// Signals: named scores (the difficulty signals of an Assessment), a handful of entries kept
// sorted by name in one vector. It reads like the std::map it replaces, but filling one costs
// a single allocation instead of a tree node per entry: every request fills one.
#pragma once

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace airlock::classifier {

class Signals {
 public:
  using value_type = std::pair<std::string, float>;
  using const_iterator = std::vector<value_type>::const_iterator;

  Signals() = default;
  // A later entry with the same name replaces an earlier one.
  Signals(std::initializer_list<value_type> entries) {
    for (const value_type& e : entries) (*this)[e.first] = e.second;
  }

  // The value of `name`, inserted as 0 when absent.
  float& operator[](std::string_view name) {
    if (entries_.empty() || std::string_view(entries_.back().first) < name) {
      return entries_.emplace_back(name, 0.0f).second;  // filled in name order: one compare
    }
    auto it = LowerBound(entries_, name);
    if (it == entries_.end() || it->first != name) it = entries_.emplace(it, name, 0.0f);
    return it->second;
  }
  // The value of `name`; throws std::out_of_range when absent.
  float at(std::string_view name) const {
    const_iterator it = find(name);
    if (it == end()) throw std::out_of_range("no signal named " + std::string(name));
    return it->second;
  }
  const_iterator find(std::string_view name) const {
    const_iterator it = LowerBound(entries_, name);
    return it != end() && it->first == name ? it : end();
  }
  size_t count(std::string_view name) const { return find(name) == end() ? 0 : 1; }

  const_iterator begin() const { return entries_.begin(); }  // by name
  const_iterator end() const { return entries_.end(); }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void reserve(size_t n) { entries_.reserve(n); }

  bool operator==(const Signals&) const = default;

 private:
  // The first entry whose name is not less than `name`, in a const or mutable vector.
  template <typename Entries>
  static auto LowerBound(Entries& entries, std::string_view name) -> decltype(entries.begin()) {
    return std::lower_bound(
        entries.begin(), entries.end(), name,
        [](const value_type& e, std::string_view n) { return std::string_view(e.first) < n; });
  }

  std::vector<value_type> entries_;
};

}  // namespace airlock::classifier

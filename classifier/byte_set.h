// ByteSet: a set of byte values, and a search for the next byte of a text that is in it. The
// classifier's scanners use it to skip what they do not look at (most of a text is letters and
// blanks) 16 bytes at a time instead of one table lookup per byte.
//
// The search is exact whatever the set. On x86-64 with SSSE3 it tests 16 bytes per step with
// two nibble lookups (the "shufti" method of Hyperscan, which needs SSSE3 itself); sets whose
// high nibbles need more than eight distinct low-nibble masks are tested approximately there
// and every candidate is checked against the exact table. Elsewhere it is a table loop.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace airlock::classifier {

class ByteSet {
 public:
  // The set of every byte b with in(b).
  template <typename Predicate>
  static constexpr ByteSet Of(Predicate in) {
    ByteSet set;
    for (int b = 0; b < 256; ++b) set.table_[static_cast<size_t>(b)] = in(static_cast<uint8_t>(b));
    set.BuildNibbleTables();
    return set;
  }

  constexpr bool contains(unsigned char b) const { return table_[b]; }

  // The position of the first byte at or after `pos` that is in the set; text.size() when
  // there is none.
  size_t Find(std::string_view text, size_t pos) const;

 private:
  constexpr void BuildNibbleTables() {
    // Bucket k (bit k) stands for one mask of low nibbles; each high nibble is in the bucket of
    // its mask. Beyond eight distinct masks the last bucket takes the union (a superset).
    uint16_t masks[8] = {};
    int buckets = 0;
    for (int hi = 0; hi < 16; ++hi) {
      uint16_t mask = 0;
      for (int lo = 0; lo < 16; ++lo) {
        if (table_[static_cast<size_t>(hi * 16 + lo)]) mask = static_cast<uint16_t>(mask | 1 << lo);
      }
      if (mask == 0) continue;
      int k = 0;
      while (k < buckets && masks[k] != mask) ++k;
      if (k == buckets) {
        if (buckets < 8) {
          ++buckets;
        } else {
          k = 7;
        }
      }
      masks[k] = static_cast<uint16_t>(masks[k] | mask);
      high_[static_cast<size_t>(hi)] =
          static_cast<uint8_t>(high_[static_cast<size_t>(hi)] | 1 << k);
    }
    for (int k = 0; k < buckets; ++k) {
      for (int lo = 0; lo < 16; ++lo) {
        if (masks[k] & 1 << lo) {
          low_[static_cast<size_t>(lo)] =
              static_cast<uint8_t>(low_[static_cast<size_t>(lo)] | 1 << k);
        }
      }
    }
  }

  std::array<bool, 256> table_{};
  std::array<uint8_t, 16> low_{};   // low nibble -> buckets
  std::array<uint8_t, 16> high_{};  // high nibble -> buckets
};

}  // namespace airlock::classifier

#include "classifier/byte_set.h"

#include <bit>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace airlock::classifier {
namespace {

size_t FindScalar(const std::array<bool, 256>& table, const unsigned char* bytes, size_t pos,
                  size_t n) {
  while (pos < n && !table[bytes[pos]]) ++pos;
  return pos;
}

#if defined(__x86_64__)
__attribute__((target("ssse3"))) size_t FindShufti(const std::array<bool, 256>& table,
                                                   const uint8_t* low, const uint8_t* high,
                                                   const unsigned char* bytes, size_t pos,
                                                   size_t n) {
  const __m128i low_table = _mm_loadu_si128(reinterpret_cast<const __m128i*>(low));
  const __m128i high_table = _mm_loadu_si128(reinterpret_cast<const __m128i*>(high));
  const __m128i nibble = _mm_set1_epi8(0x0F);
  for (; pos + 16 <= n; pos += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + pos));
    const __m128i lo = _mm_shuffle_epi8(low_table, _mm_and_si128(v, nibble));
    const __m128i hi = _mm_shuffle_epi8(high_table, _mm_and_si128(_mm_srli_epi16(v, 4), nibble));
    const __m128i none = _mm_cmpeq_epi8(_mm_and_si128(lo, hi), _mm_setzero_si128());
    for (unsigned candidates = ~static_cast<unsigned>(_mm_movemask_epi8(none)) & 0xFFFF;
         candidates != 0; candidates &= candidates - 1) {
      const size_t at = pos + static_cast<size_t>(std::countr_zero(candidates));
      if (table[bytes[at]]) return at;
    }
  }
  return FindScalar(table, bytes, pos, n);
}

bool HasSsse3() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("ssse3") != 0;
  }();
  return has;
}
#endif

}  // namespace

size_t ByteSet::Find(std::string_view text, size_t pos) const {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
#if defined(__x86_64__)
  if (HasSsse3()) return FindShufti(table_, low_.data(), high_.data(), bytes, pos, text.size());
#endif
  return FindScalar(table_, bytes, pos, text.size());
}

}  // namespace airlock::classifier

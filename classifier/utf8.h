// Small UTF-8 helpers shared by the classifier's scanners. Text is any bytes; nothing here
// rejects or repairs invalid UTF-8, callers decide what an invalid byte means.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace airlock::classifier {

// Decodes the UTF-8 sequence that starts at text[pos] (pos < text.size()) into *cp and returns
// its length in bytes (1 to 4); returns 0 when the bytes there are not a valid sequence
// (continuation byte, truncated sequence, overlong form, surrogate, beyond U+10FFFF).
inline size_t DecodeUtf8(std::string_view text, size_t pos, uint32_t* cp) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const unsigned char b = s[pos];
  size_t len;
  uint32_t v;
  if (b < 0x80) {
    *cp = b;
    return 1;
  } else if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
    v = b & 0x1F;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    v = b & 0x0F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    v = b & 0x07;
  } else {
    return 0;
  }
  if (pos + len > text.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((s[pos + k] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (s[pos + k] & 0x3F);
  }
  if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
      (v >= 0xD800 && v <= 0xDFFF)) {
    return 0;
  }
  *cp = v;
  return len;
}

}  // namespace airlock::classifier

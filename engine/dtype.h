// Element types of weights on disk, and conversions between them and float.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace airlock::engine {

// kOther: a type the engine does not compute with (F64, I64, F8_E4M3, ...); kept so that an
// error can name it.
enum class DType { kF32, kF16, kBF16, kOther };

inline size_t DTypeSize(DType t) { return t == DType::kF32 ? 4 : t == DType::kOther ? 0 : 2; }
inline std::string_view DTypeName(DType t) {
  switch (t) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
    case DType::kOther:
      break;
  }
  return "other";
}

inline float Bf16ToFloat(uint16_t v) { return std::bit_cast<float>(uint32_t{v} << 16); }

// Round to nearest even; NaN stays NaN.
inline uint16_t FloatToBf16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if (std::isnan(f)) return static_cast<uint16_t>((u >> 16) | 0x40);
  const uint32_t rounding = 0x7fff + ((u >> 16) & 1);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

float F16ToFloat(uint16_t v);
uint16_t FloatToF16(float f);  // round to nearest even, overflow to infinity

}  // namespace airlock::engine

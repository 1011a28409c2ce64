#include "engine/dtype.h"

namespace airlock::engine {

float F16ToFloat(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign != 0 ? -v : v;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t FloatToF16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  if (std::isnan(f)) return static_cast<uint16_t>(sign | 0x7e00u);
  const float a = std::fabs(f);
  if (a >= 65520.0f) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to infinity
  if (a < 6.103515625e-05f) {  // subnormal range: units of 2^-24, rounded to nearest even
    const float units = a * 16777216.0f;
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(std::nearbyint(units)));
  }
  const uint32_t b = std::bit_cast<uint32_t>(a);
  uint32_t exp = (b >> 23) - 112;
  uint32_t mant = b & 0x7fffffu;
  const uint32_t rest = mant & 0x1fffu;
  mant >>= 13;
  if (rest > 0x1000u || (rest == 0x1000u && (mant & 1u))) {
    if (++mant == 0x400u) {
      mant = 0;
      ++exp;
    }
  }
  return static_cast<uint16_t>(sign | (exp << 10) | mant);
}

}  // namespace airlock::engine

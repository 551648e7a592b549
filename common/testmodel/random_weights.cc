#include "common/testmodel/random_weights.h"

#include <bit>
#include <cstring>

#include "common/float16.h"

namespace djinn::testmodel {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors is little-endian; the fill loops copy native values");

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ull;

// The SplitMix64 output function. SplitMix64's n-th output is
// Mix64(state0 + n * kGolden), which makes it counter-based: any element can
// be computed without generating the ones before it.
uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// sqrt(3) rounded to double: Irwin-Hall(4) has variance 4/12.
constexpr double kSqrt3 = 1.7320508075688772;
// 2^-33 (exact).
constexpr double kTwoPowMinus33 = 1.0 / 8589934592.0;

}  // namespace

uint64_t TensorStreamKey(uint64_t seed, std::string_view tensor_name) {
  uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a 64
  for (unsigned char c : tensor_name) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return Mix64(Mix64(seed) ^ hash);
}

double StandardNormalAt(uint64_t key, uint64_t index) {
  const uint64_t a = Mix64(key + (2 * index + 1) * kGolden);
  const uint64_t b = Mix64(key + (2 * index + 2) * kGolden);
  // u_k = (r_k + 1/2) / 2^32 in (0, 1). sum(u_k) - 2 = (2R + 4 - 2^34) / 2^33,
  // an integer below 2^36 in magnitude times a power of two: exact in double.
  const uint64_t r = (a >> 32) + (a & 0xffffffffu) + (b >> 32) + (b & 0xffffffffu);
  const int64_t centred = static_cast<int64_t>(2 * r + 4) - (int64_t{1} << 34);
  return static_cast<double>(centred) * kTwoPowMinus33 * kSqrt3;
}

float WeightAt(uint64_t key, const WeightInit& init, uint64_t index) {
  const double scaled = init.stddev * StandardNormalAt(key, index);
  return static_cast<float>(init.mean + scaled);
}

void FillWeights(uint64_t key, const WeightInit& init, TensorDType dtype, uint64_t first,
                 uint64_t count, uint8_t* out) {
  // memcpy of the native value: every supported host is little-endian, as
  // safetensors is.
  switch (dtype) {
    case TensorDType::kF32:
      for (uint64_t i = 0; i < count; ++i) {
        const float v = WeightAt(key, init, first + i);
        std::memcpy(out + 4 * i, &v, 4);
      }
      break;
    case TensorDType::kF16:
      for (uint64_t i = 0; i < count; ++i) {
        const uint16_t v = FloatToFloat16(WeightAt(key, init, first + i));
        std::memcpy(out + 2 * i, &v, 2);
      }
      break;
    case TensorDType::kBF16:
      for (uint64_t i = 0; i < count; ++i) {
        const uint16_t v = FloatToBFloat16(WeightAt(key, init, first + i));
        std::memcpy(out + 2 * i, &v, 2);
      }
      break;
  }
}

}  // namespace djinn::testmodel

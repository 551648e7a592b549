// Host-side element conversion: ParallelConvertHost gives exactly what
// ConvertHost gives, whatever the split.
#include "common/host_convert.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "common/float16.h"
#include "gtest/gtest.h"

namespace djinn {
namespace {

std::vector<uint16_t> HalfValues(int64_t count) {
  std::vector<uint16_t> values(count);
  uint32_t state = 12345;
  for (auto& v : values) {
    state = state * 1664525u + 1013904223u;
    v = FloatToFloat16(static_cast<float>(static_cast<int32_t>(state >> 8) % 20000) / 997.0f);
  }
  return values;
}

TEST(HostConvertTest, ParallelEqualsSerialForEverySplit) {
  const int64_t count = 3'000'017;  // not a multiple of any split
  const std::vector<uint16_t> half = HalfValues(count);
  const auto* src = reinterpret_cast<const std::byte*>(half.data());
  std::vector<float> serial(count), parallel(count);
  ConvertHost(src, DType::kFloat16, reinterpret_cast<std::byte*>(serial.data()), DType::kFloat32, count);
  for (int threads : {1, 2, 3, 7, 16}) {
    std::fill(parallel.begin(), parallel.end(), -1.0f);
    ParallelConvertHost(src, DType::kFloat16, reinterpret_cast<std::byte*>(parallel.data()), DType::kFloat32, count,
                        threads);
    EXPECT_EQ(std::memcmp(serial.data(), parallel.data(), count * sizeof(float)), 0) << threads << " threads";
  }
  // Same type: a plain copy, also when split.
  std::vector<uint16_t> copy(count, 0xFFFF);
  ParallelConvertHost(src, DType::kFloat16, reinterpret_cast<std::byte*>(copy.data()), DType::kFloat16, count, 5);
  EXPECT_EQ(copy, half);
}

TEST(HostConvertTest, SmallInputsAreNotSplitButStillConverted) {
  const std::vector<uint16_t> half = HalfValues(17);
  std::vector<float> out(17, -1.0f);
  ParallelConvertHost(reinterpret_cast<const std::byte*>(half.data()), DType::kFloat16,
                      reinterpret_cast<std::byte*>(out.data()), DType::kFloat32, 17);
  for (int i = 0; i < 17; ++i) EXPECT_EQ(out[i], Float16ToFloat(half[i])) << i;
}

}  // namespace
}  // namespace djinn

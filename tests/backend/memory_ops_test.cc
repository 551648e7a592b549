// The memory side of the Backend contract on every backend: what Describe
// and MemoryUsage report, a reserved arena, Upload from fp32, fp16 (every
// bit pattern), bf16 (every bit pattern) and int32 sources, Download and
// CopyToHost (raw bytes, NaN payloads included), at odd sizes and at sizes
// that cross a GPU's staging buffers several times.
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "common/float16.h"
#include "tests/backend/support.h"

namespace djinn::backendtest {
namespace {

class MemoryOpsTest : public BackendTest {};
class MemoryDTypeTest : public OpTest {};

TEST_P(MemoryOpsTest, DescribeAndMemoryUsage) {
  const DeviceDescription d = backend().Describe();
  EXPECT_EQ(d.kind, backend_name());
  EXPECT_TRUE(d.id == d.kind || d.id.rfind(d.kind + ":", 0) == 0) << d.id;  // "cpu", "cuda:0"
  EXPECT_FALSE(d.name.empty());
  EXPECT_GT(d.total_memory_bytes, uint64_t{1} << 20);
  EXPECT_EQ(backend().ComputeDType(DType::kFloat32), DType::kFloat32);
  for (DType stored : {DType::kFloat16, DType::kBFloat16}) {
    const DType compute = backend().ComputeDType(stored);
    EXPECT_TRUE(compute == DType::kFloat32 || compute == stored) << DTypeName(stored);
  }
  EXPECT_GT(backend().PreferredPrefillChunk(), 0);

  const absl::StatusOr<DeviceMemoryUsage> usage = backend().MemoryUsage();
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_GT(usage->used_bytes, 0u);  // this process, at least
  EXPECT_LT(usage->used_bytes, usage->total_bytes);
  EXPECT_EQ(usage->free_bytes(), usage->total_bytes - usage->used_bytes);
}

TEST_P(MemoryOpsTest, ReserveArenaIsWritable) {
  constexpr uint64_t kBytes = 4 << 20;
  absl::StatusOr<std::byte*> base = backend().ReserveArena(kBytes);
  ASSERT_TRUE(base.ok()) << base.status();
  ASSERT_NE(*base, nullptr);
  const Tensor first{*base, DType::kInt32, 1, 1}, last{*base + kBytes - 4, DType::kInt32, 1, 1};
  UploadInts({12345}, first);
  UploadInts({-678}, last);
  EXPECT_EQ(GetInts(first), std::vector<int32_t>{12345});
  EXPECT_EQ(GetInts(last), std::vector<int32_t>{-678});
  backend().ReleaseArena(*base, kBytes);
}

// --- Upload -----------------------------------------------------------------------

// A 16-bit IEEE-style float (sign, `exponent_bits`, the rest mantissa)
// decoded arithmetically, independent of common/float16.h.
double Decode16(uint16_t bits, int exponent_bits) {
  const int mantissa_bits = 15 - exponent_bits, bias = (1 << (exponent_bits - 1)) - 1;
  const int sign = bits >> 15, exponent = (bits >> mantissa_bits) & ((1 << exponent_bits) - 1);
  const int mantissa = bits & ((1 << mantissa_bits) - 1);
  double magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(mantissa, 1 - bias - mantissa_bits);
  } else if (exponent == (1 << exponent_bits) - 1) {
    magnitude = mantissa == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else {
    magnitude = std::ldexp((1 << mantissa_bits) + mantissa, exponent - bias - mantissa_bits);
  }
  return sign ? -magnitude : magnitude;
}
double HalfValue(uint16_t bits) { return Decode16(bits, 5); }
double BFloat16Value(uint16_t bits) { return Decode16(bits, 8); }

void ExpectSameValue(float got, double want, const std::string& what) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what;
  } else {
    EXPECT_EQ(static_cast<double>(got), want) << what;
    EXPECT_EQ(std::signbit(got), std::signbit(want)) << what;
  }
}

std::vector<std::byte> AsBytes(const std::vector<uint16_t>& bits) {
  std::vector<std::byte> bytes(bits.size() * 2);
  for (size_t i = 0; i < bits.size(); ++i) {
    bytes[2 * i] = std::byte(bits[i] & 0xff);  // little-endian, as safetensors stores them
    bytes[2 * i + 1] = std::byte(bits[i] >> 8);
  }
  return bytes;
}

std::vector<uint16_t> EveryBitPattern() {
  std::vector<uint16_t> bits(65536);
  for (uint32_t i = 0; i < bits.size(); ++i) bits[i] = static_cast<uint16_t>(i);
  return bits;
}

// All 65536 bit patterns: normals, subnormals, zeros, infinities, NaNs.
TEST_P(MemoryOpsTest, UploadFloat16EveryValue) {
  const std::vector<uint16_t> bits = EveryBitPattern();
  const Tensor t = Poisoned(256, 256, DType::kFloat32);
  backend().Upload(AsBytes(bits), DType::kFloat16, t);
  const std::vector<float> out = Get(t);
  for (uint32_t i = 0; i < bits.size(); ++i)
    ExpectSameValue(out[i], HalfValue(bits[i]), "half bits " + std::to_string(i));
  EXPECT_EQ(out[0x3c00], 1.0f);
  EXPECT_EQ(out[0x7bff], 65504.0f);
  EXPECT_EQ(out[0x0001], std::ldexp(1.0f, -24));
}

TEST_P(MemoryOpsTest, UploadBFloat16EveryValue) {
  const std::vector<uint16_t> bits = EveryBitPattern();
  const Tensor t = Poisoned(65536, 1, DType::kFloat32);
  backend().Upload(AsBytes(bits), DType::kBFloat16, t);
  const std::vector<float> out = Get(t);
  for (uint32_t i = 0; i < bits.size(); ++i) {
    ExpectSameValue(out[i], BFloat16Value(bits[i]), "bfloat16 bits " + std::to_string(i));
  }
  EXPECT_EQ(out[0x3f80], 1.0f);
  EXPECT_EQ(out[0xc000], -2.0f);
}

TEST_P(MemoryOpsTest, UploadOddSizesIntoFloat32) {
  for (int64_t count : {1, 7, 37, 1001}) {
    SCOPED_TRACE(count);
    const std::vector<float> values = Random(count, DType::kFloat32, -100.0f, 100.0f);
    // f32: bytes copied as they are.
    const Tensor t = Poisoned(1, count, DType::kFloat32);
    backend().Upload(std::as_bytes(std::span<const float>(values)), DType::kFloat32, t);
    EXPECT_EQ(Get(t), values);
    // f16 / bf16 of the rounded values decode to those values.
    std::vector<uint16_t> half(count), brain(count);
    for (int64_t i = 0; i < count; ++i) {
      half[i] = FloatToFloat16(values[i]);
      brain[i] = FloatToBFloat16(values[i]);
    }
    const Tensor column = Poisoned(count, 1, DType::kFloat32);
    backend().Upload(AsBytes(half), DType::kFloat16, column);
    std::vector<float> out = Get(column);
    for (int64_t i = 0; i < count; ++i) {
      ExpectSameValue(out[i], HalfValue(half[i]), "half");
      EXPECT_NEAR(out[i], values[i], std::abs(values[i]) / 1024.0);
    }
    backend().Upload(AsBytes(brain), DType::kBFloat16, column);
    out = Get(column);
    for (int64_t i = 0; i < count; ++i) {
      ExpectSameValue(out[i], BFloat16Value(brain[i]), "bfloat16");
      EXPECT_NEAR(out[i], values[i], std::abs(values[i]) / 128.0);
    }
  }
}

// Into tensors of the dtype under test, at sizes that cross a GPU's
// staging buffers several times: the tensor holds exactly the source
// rounded to its dtype, and CopyToHost returns its raw bytes.
TEST_P(MemoryDTypeTest, UploadDownloadRoundTrip) {
  for (int64_t count : {int64_t{1}, int64_t{13}, int64_t{4096}, int64_t{5'000'003}}) {
    const std::vector<float> host = Random(count, DType::kFloat32, -4.0f, 4.0f);
    const Tensor t = Poisoned(1, count);
    backend().Upload(std::as_bytes(std::span<const float>(host)), DType::kFloat32, t);
    std::vector<double> want(count);
    for (int64_t i = 0; i < count; ++i) want[i] = RoundTo(dtype(), host[i]);
    ExpectNear("upload n=" + std::to_string(count) + " from fp32", Get(t), want, {}, 0.0);
  }
  // Half sources (fp16 and bf16 bits) into this dtype and into fp32 (the
  // RoPE tables' case).
  for (DType source : {DType::kFloat16, DType::kBFloat16}) {
    const int64_t count = 3'000'001;
    const std::vector<float> values = Random(count, source, -2.0f, 2.0f);
    std::vector<uint16_t> bits(count);
    for (int64_t i = 0; i < count; ++i) {
      bits[i] = source == DType::kFloat16 ? FloatToFloat16(values[i]) : FloatToBFloat16(values[i]);
    }
    for (DType to : {dtype(), DType::kFloat32}) {
      const Tensor t = Poisoned(1, count, to);
      backend().Upload(std::as_bytes(std::span<const uint16_t>(bits)), source, t);
      std::vector<double> want(count);
      for (int64_t i = 0; i < count; ++i) want[i] = RoundTo(to, values[i]);
      ExpectNear(std::string("upload n=3000001 from ") + ShortName(source) + " to " + ShortName(to), Get(t), want, {},
                 0.0);
    }
  }
  // CopyToHost: the raw bytes of this dtype.
  const int64_t count = 100'003;
  const std::vector<float> host = Random(count, dtype(), -4.0f, 4.0f);
  const Tensor t = Put(host, 1, count);
  std::vector<std::byte> raw(t.bytes());
  backend().CopyToHost(t, raw);
  std::vector<float> got(count);
  for (int64_t i = 0; i < count; ++i) {
    if (dtype() == DType::kFloat32) {
      std::memcpy(&got[i], raw.data() + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, raw.data() + 2 * i, 2);
      got[i] = dtype() == DType::kFloat16 ? Float16ToFloat(h) : BFloat16ToFloat(h);
    }
  }
  EXPECT_TRUE(SameBits(got, host)) << "copytohost n=" << count;
}

TEST_P(MemoryOpsTest, DownloadOfATensorAndOfItsRows) {
  const std::vector<float> values = Random(24, DType::kFloat32);
  const Tensor t = Put(values, 4, 6, DType::kFloat32);
  std::vector<float> host(24, 0.0f);
  backend().Download(t, host);
  EXPECT_EQ(host, values);
  std::vector<float> row(6);
  backend().Download(t.Rows(2, 1), row);
  EXPECT_EQ(row, std::vector<float>(values.begin() + 12, values.begin() + 18));
  // A host span shorter than the tensor takes its first values.
  std::vector<float> head(5);
  backend().Download(t, head);
  EXPECT_EQ(head, std::vector<float>(values.begin(), values.begin() + 5));
}

// int32 tensors are copied, never converted: values whose bytes all differ,
// negatives and extremes included (a conversion through float would change
// some of them); float32 bytes come back as they are, NaN payloads included.
TEST_P(MemoryOpsTest, Int32AndFloat32BytesAreCopiedAsTheyAre) {
  const std::vector<int32_t> values = {
      0, -1, 16777217, std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min(), 123456789, 7};
  const Tensor ints = PutInts(values, static_cast<int64_t>(values.size()), 1);
  EXPECT_EQ(GetInts(ints), values);

  const std::vector<float> floats = {1.5f, -0.0f, kInf, std::bit_cast<float>(0x7fc01234u)};
  const Tensor t = Put(floats, 2, 2, DType::kFloat32);
  std::vector<float> copy(floats.size());
  backend().CopyToHost(t, std::as_writable_bytes(std::span(copy)));
  EXPECT_TRUE(SameBits(copy, floats));
}

// Many uploads in a row, small ones (a step's ids and positions: sharing a
// GPU staging buffer) and large ones (switching buffers), each source
// rewritten as soon as Upload returns and uploaded again: the last write
// wins, and all land.
TEST_P(MemoryOpsTest, ManyInt32UploadsInARowAllLand) {
  std::mt19937 rng(NextSeed());
  std::vector<int64_t> sizes;
  for (int i = 0; i < 300; ++i) sizes.push_back(1 + rng() % 50);
  for (int i = 0; i < 12; ++i) sizes.push_back(1'000'000 + rng() % 1000);  // 4 MB each
  sizes.push_back(5'000'001);                                              // more than one staging buffer
  std::vector<std::vector<int32_t>> hosts;
  std::vector<Tensor> tensors;
  for (int64_t n : sizes) {
    std::vector<int32_t> host(n);
    for (int32_t& v : host) v = static_cast<int32_t>(rng());  // negative ones too
    const Tensor t = PutInts(host, n, 1);
    std::fill(host.begin(), host.end(), 0);  // the source may be reused at once...
    for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<int32_t>(i * 2654435761u);
    UploadInts(host, t);  // ...and the last write wins
    hosts.push_back(std::move(host));
    tensors.push_back(t);
  }
  size_t mismatched = 0;
  for (size_t k = 0; k < tensors.size(); ++k) mismatched += GetInts(tensors[k]) != hosts[k];
  EXPECT_EQ(mismatched, 0u) << "of " << tensors.size() << " int32 tensors";
}

INSTANTIATE_TEST_SUITE_P(Backends, MemoryOpsTest, DJINN_ALL_BACKENDS);
INSTANTIATE_TEST_SUITE_P(Backends, MemoryDTypeTest, DJINN_ALL_BACKENDS_AND_DTYPES);

}  // namespace
}  // namespace djinn::backendtest

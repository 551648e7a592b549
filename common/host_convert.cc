#include "common/host_convert.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "common/float16.h"

namespace djinn {
namespace {

// Typed element access, so that the inner loops have no switch.
template <DType D>
struct HostElement;
template <>
struct HostElement<DType::kFloat32> {
  static float Read(const std::byte* p, int64_t i) {
    float f;
    std::memcpy(&f, p + 4 * i, 4);
    return f;
  }
  static void Write(std::byte* p, int64_t i, float f) { std::memcpy(p + 4 * i, &f, 4); }
};
template <>
struct HostElement<DType::kFloat16> {
  static float Read(const std::byte* p, int64_t i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    return Float16ToFloat(h);
  }
  static void Write(std::byte* p, int64_t i, float f) {
    const uint16_t h = FloatToFloat16(f);
    std::memcpy(p + 2 * i, &h, 2);
  }
};
template <>
struct HostElement<DType::kBFloat16> {
  static float Read(const std::byte* p, int64_t i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    return BFloat16ToFloat(h);
  }
  static void Write(std::byte* p, int64_t i, float f) {
    const uint16_t h = FloatToBFloat16(f);
    std::memcpy(p + 2 * i, &h, 2);
  }
};

template <DType S, DType D>
void ConvertTyped(const std::byte* src, std::byte* dst, int64_t count) {
  if constexpr (S == D) {
    std::memcpy(dst, src, static_cast<size_t>(count) * DTypeSize(S));
  } else {
    for (int64_t i = 0; i < count; ++i) HostElement<D>::Write(dst, i, HostElement<S>::Read(src, i));
  }
}

template <DType S>
void ConvertFrom(const std::byte* src, std::byte* dst, DType to, int64_t count) {
  switch (to) {
    case DType::kFloat32:
      return ConvertTyped<S, DType::kFloat32>(src, dst, count);
    case DType::kFloat16:
      return ConvertTyped<S, DType::kFloat16>(src, dst, count);
    case DType::kBFloat16:
      return ConvertTyped<S, DType::kBFloat16>(src, dst, count);
    case DType::kInt32:
      break;
  }
  std::abort();  // float -> int32 is refused by the caller
}

}  // namespace

void ConvertHost(const std::byte* src, DType from, std::byte* dst, DType to, int64_t count) {
  switch (from) {
    case DType::kFloat32:
      return ConvertFrom<DType::kFloat32>(src, dst, to, count);
    case DType::kFloat16:
      return ConvertFrom<DType::kFloat16>(src, dst, to, count);
    case DType::kBFloat16:
      return ConvertFrom<DType::kBFloat16>(src, dst, to, count);
    case DType::kInt32:
      if (to != DType::kInt32) std::abort();
      std::memcpy(dst, src, static_cast<size_t>(count) * sizeof(int32_t));
      return;
  }
}

void ParallelConvertHost(const std::byte* src, DType from, std::byte* dst, DType to, int64_t count, int threads) {
  constexpr int64_t kMinPieceBytes = 4 << 20;
  if (threads <= 0) threads = static_cast<int>(std::min(16u, std::max(1u, std::thread::hardware_concurrency())));
  const int64_t out_size = static_cast<int64_t>(DTypeSize(to));
  const int64_t pieces = std::min<int64_t>(threads, std::max<int64_t>(1, count * out_size / kMinPieceBytes));
  if (pieces <= 1) return ConvertHost(src, from, dst, to, count);
  const int64_t in_size = static_cast<int64_t>(DTypeSize(from));
  const int64_t per_piece = (count + pieces - 1) / pieces;
  std::vector<std::thread> workers;
  for (int64_t first = 0; first < count; first += per_piece) {
    const int64_t n = std::min(per_piece, count - first);
    workers.emplace_back([=] { ConvertHost(src + first * in_size, from, dst + first * out_size, to, n); });
  }
  for (std::thread& worker : workers) worker.join();
}

}  // namespace djinn

#include "client/cpp/cli/format.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace djinn::client::cli {
namespace {

constexpr const char* kByteUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

// The largest binary unit that leaves a value >= 1 after rounding to one
// decimal, so 1023.96 KiB shows as "1.0 MiB" rather than "1024.0 KiB".
int ByteUnit(uint64_t bytes) {
  int unit = 0;
  double value = static_cast<double>(bytes);
  while (unit < 6 && std::round(value * 10) / 10 >= 1024) {
    value /= 1024;
    ++unit;
  }
  return unit;
}

std::string BytesIn(uint64_t bytes, int unit) {
  if (unit == 0) return absl::StrCat(bytes);
  return absl::StrFormat("%.1f", static_cast<double>(bytes) / std::pow(1024.0, unit));
}

}  // namespace

std::string HumanBytes(uint64_t bytes) {
  const int unit = ByteUnit(bytes);
  return absl::StrCat(BytesIn(bytes, unit), " ", kByteUnits[unit]);
}

std::string HumanBytesOf(uint64_t done, uint64_t total) {
  const int unit = ByteUnit(total);
  return absl::StrCat(BytesIn(done, unit), "/", BytesIn(total, unit), " ",
                      kByteUnits[unit]);
}

std::string HumanCount(uint64_t count) {
  constexpr const char* kSuffixes[] = {"", "K", "M", "B", "T", "P", "E"};
  int suffix = 0;
  double value = static_cast<double>(count);
  while (suffix < 6 && std::round(value * 10) / 10 >= 1000) {
    value /= 1000;
    ++suffix;
  }
  if (suffix == 0) return absl::StrCat(count);
  return absl::StrFormat("%.1f%s", value, kSuffixes[suffix]);
}

std::string HumanDuration(double seconds) {
  if (!(seconds >= 0)) return "-";  // negative or NaN: nothing sensible to show
  if (seconds < 1e-3) return absl::StrFormat("%.0f us", seconds * 1e6);
  if (seconds < 1) return absl::StrFormat("%.1f ms", seconds * 1e3);
  if (seconds < 60) return absl::StrFormat("%.2f s", seconds);
  const uint64_t whole = static_cast<uint64_t>(seconds);
  const uint64_t h = whole / 3600, m = whole / 60 % 60, s = whole % 60;
  if (h == 0) return absl::StrFormat("%dm %02ds", m, s);
  return absl::StrFormat("%dh %02dm %02ds", h, m, s);
}

std::string Percent(uint64_t part, uint64_t whole) {
  if (whole == 0) return "-";
  return absl::StrFormat("%.1f%%", 100.0 * static_cast<double>(part) /
                                       static_cast<double>(whole));
}

std::string DTypeName(v1::DType dtype) {
  switch (dtype) {
    case v1::DTYPE_FLOAT32: return "float32";
    case v1::DTYPE_FLOAT16: return "float16";
    case v1::DTYPE_BFLOAT16: return "bfloat16";
    default: return "-";
  }
}

std::string ModelStateName(v1::ModelState state) {
  switch (state) {
    case v1::MODEL_STATE_LOADING: return "loading";
    case v1::MODEL_STATE_READY: return "ready";
    case v1::MODEL_STATE_UNLOADING: return "unloading";
    default: return "-";
  }
}

std::string FinishReasonName(v1::FinishReason reason) {
  switch (reason) {
    case v1::FINISH_REASON_LENGTH: return "length";
    case v1::FINISH_REASON_STOP: return "stop";
    case v1::FINISH_REASON_CANCELLED: return "cancelled";
    default: return "-";
  }
}

std::string PhaseName(v1::LoadModelProgress::Phase phase) {
  switch (phase) {
    case v1::LoadModelProgress::PHASE_READING_CONFIG: return "reading config";
    case v1::LoadModelProgress::PHASE_PLANNING: return "planning";
    case v1::LoadModelProgress::PHASE_LOADING_WEIGHTS: return "loading weights";
    case v1::LoadModelProgress::PHASE_ALLOCATING_KV_CACHE: return "allocating KV cache";
    case v1::LoadModelProgress::PHASE_READY: return "ready";
    default: return "starting";
  }
}

}  // namespace djinn::client::cli

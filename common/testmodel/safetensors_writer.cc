#include "common/testmodel/safetensors_writer.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/testmodel/output_file.h"
#include "nlohmann/json.hpp"

namespace djinn::testmodel {
namespace {

// Below this many bytes per thread, spawning threads costs more than it saves.
constexpr uint64_t kMinBytesPerThread = uint64_t{1} << 20;

// A tensor's byte range in the data section, in file order.
struct Span {
  size_t tensor;
  uint64_t begin;
  uint64_t end;
  uint64_t element_size;
};

std::vector<Span> FileOrderSpans(const std::vector<SafetensorsEntry>& entries,
                                 const SafetensorsLayout& layout) {
  std::vector<Span> spans;
  for (size_t index : layout.order) {
    if (layout.size[index] == 0) continue;
    spans.push_back({index, layout.begin[index], layout.begin[index] + layout.size[index],
                     DTypeSize(entries[index].dtype)});
  }
  return spans;
}

// The span holding byte `offset` (offset < data size).
size_t SpanAt(const std::vector<Span>& spans, uint64_t offset) {
  auto it = std::upper_bound(spans.begin(), spans.end(), offset,
                             [](uint64_t o, const Span& s) { return o < s.begin; });
  return static_cast<size_t>(it - spans.begin()) - 1;
}

// Rounds `offset` down to the start of the element it falls in, so that a
// block or a thread's slice never splits an element.
uint64_t SnapDown(const std::vector<Span>& spans, uint64_t offset, uint64_t data_size) {
  if (offset >= data_size) return data_size;
  const Span& s = spans[SpanAt(spans, offset)];
  return s.begin + (offset - s.begin) / s.element_size * s.element_size;
}

// Fills data bytes [lo, hi) (element-aligned) into `out`.
void FillSlice(const std::vector<Span>& spans, const ElementFiller& fill, uint64_t lo,
               uint64_t hi, uint8_t* out) {
  for (size_t i = SpanAt(spans, lo); i < spans.size() && spans[i].begin < hi; ++i) {
    const Span& s = spans[i];
    const uint64_t a = std::max(lo, s.begin);
    const uint64_t b = std::min(hi, s.end);
    fill(s.tensor, (a - s.begin) / s.element_size, (b - a) / s.element_size, out + (a - lo));
  }
}

// Fills data bytes [lo, hi) using up to `threads` threads.
void FillBlock(const std::vector<Span>& spans, const ElementFiller& fill, uint64_t lo,
               uint64_t hi, uint64_t data_size, int threads, uint8_t* out) {
  const uint64_t slices =
      std::clamp<uint64_t>((hi - lo) / kMinBytesPerThread, 1, static_cast<uint64_t>(threads));
  if (slices == 1) {
    FillSlice(spans, fill, lo, hi, out);
    return;
  }
  std::vector<std::thread> workers;
  uint64_t start = lo;
  for (uint64_t k = 1; k <= slices; ++k) {
    const uint64_t stop = k == slices ? hi : SnapDown(spans, lo + (hi - lo) * k / slices, data_size);
    if (stop > start) {
      workers.emplace_back(FillSlice, std::cref(spans), std::cref(fill), start, stop,
                           out + (start - lo));
    }
    start = stop;
  }
  for (std::thread& t : workers) t.join();
}

}  // namespace

absl::StatusOr<SafetensorsLayout> PlanSafetensors(const std::vector<SafetensorsEntry>& entries) {
  SafetensorsLayout layout;
  layout.order.resize(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) layout.order[i] = i;
  std::sort(layout.order.begin(), layout.order.end(),
            [&](size_t a, size_t b) { return entries[a].name < entries[b].name; });

  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "pt"}};
  layout.begin.resize(entries.size());
  layout.size.resize(entries.size());
  uint64_t offset = 0;
  for (size_t k = 0; k < layout.order.size(); ++k) {
    const SafetensorsEntry& e = entries[layout.order[k]];
    if (e.name.empty() || e.name == "__metadata__") {
      return absl::InvalidArgumentError(absl::StrCat("bad tensor name \"", e.name, "\""));
    }
    if (k > 0 && entries[layout.order[k - 1]].name == e.name) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate tensor name ", e.name));
    }
    uint64_t elements = 1;
    for (int64_t d : e.shape) {
      if (d < 0) return absl::InvalidArgumentError(absl::StrCat("negative dimension in ", e.name));
      elements *= static_cast<uint64_t>(d);
    }
    const uint64_t bytes = elements * DTypeSize(e.dtype);
    layout.begin[layout.order[k]] = offset;
    layout.size[layout.order[k]] = bytes;
    header[e.name] = {{"dtype", std::string(SafetensorsDTypeName(e.dtype))},
                      {"shape", e.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  layout.data_size = offset;

  std::string json = header.dump();
  json.resize((json.size() + 7) / 8 * 8, ' ');  // data then starts 8-byte aligned
  const uint64_t n = json.size();
  layout.header.reserve(8 + n);
  for (int i = 0; i < 8; ++i) layout.header.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  layout.header += json;
  return layout;
}

absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<SafetensorsEntry>& entries,
                              const ElementFiller& fill, const SafetensorsWriteOptions& options) {
  absl::StatusOr<SafetensorsLayout> layout = PlanSafetensors(entries);
  if (!layout.ok()) return layout.status();
  absl::StatusOr<OutputFile> file = OutputFile::Create(path);
  if (!file.ok()) return file.status();

  auto report = [&](uint64_t bytes) {
    if (options.on_bytes_written && bytes > 0) options.on_bytes_written(bytes);
  };
  if (absl::Status s = file->Write(layout->header.data(), layout->header.size()); !s.ok()) {
    return s;
  }
  report(layout->header.size());

  const std::vector<Span> spans = FileOrderSpans(entries, *layout);
  const uint64_t data_size = layout->data_size;
  const int threads = options.threads > 0
                          ? options.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const uint64_t block = std::max<uint64_t>(options.block_bytes, 1);

  // Two buffers: one block is generated while the previous one is written.
  std::vector<uint8_t> buffers[2];
  std::thread writer;
  absl::Status write_status;
  uint64_t pending = 0;  // bytes the running writer will have written
  uint64_t pos = 0;
  for (int k = 0; pos < data_size; k ^= 1) {
    uint64_t next = SnapDown(spans, pos + block, data_size);
    if (next == pos) next = spans[SpanAt(spans, pos)].element_size + pos;  // tiny block_bytes
    std::vector<uint8_t>& buffer = buffers[k];
    buffer.resize(next - pos);
    FillBlock(spans, fill, pos, next, data_size, threads, buffer.data());
    if (writer.joinable()) {
      writer.join();
      if (!write_status.ok()) return write_status;
      report(pending);
    }
    pending = buffer.size();
    writer = std::thread([&write_status, &file, &buffer] {
      write_status = file->Write(buffer.data(), buffer.size());
    });
    pos = next;
  }
  if (writer.joinable()) {
    writer.join();
    if (!write_status.ok()) return write_status;
    report(pending);
  }
  return file->Commit();
}

}  // namespace djinn::testmodel

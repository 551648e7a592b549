#include "common/safetensors.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace djinn {
namespace {

// A header larger than this is not a model we can load (real ones are < 1 MiB).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

absl::Status Corrupt(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("corrupt safetensors file ", path, ": ", what));
}

absl::StatusOr<DType> ParseDType(const std::string& name) {
  if (name == "F32") return DType::kFloat32;
  if (name == "F16") return DType::kFloat16;
  if (name == "BF16") return DType::kBFloat16;
  return absl::InvalidArgumentError(absl::StrCat("unsupported tensor dtype ", name, " (Djinn reads F32, F16, BF16)"));
}

}  // namespace

int64_t TensorInfo::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  absl::StatusOr<ReadOnlyFile> opened = ReadOnlyFile::Open(path);
  if (!opened.ok()) return opened.status();
  const int fd = opened->fd();
  struct stat st;
  if (::fstat(fd, &st) != 0) return absl::InternalError(absl::StrCat("cannot stat ", path));
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    return Corrupt(path, absl::StrFormat("file is %d bytes, shorter than the 8-byte header length", file_size));
  }
  void* mapping = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (mapping == MAP_FAILED) return absl::InternalError(absl::StrCat("cannot map ", path, ": ", std::strerror(errno)));

  // The file stays open beside its mapping: tensors that need no conversion
  // are read with pread() (the loader), everything else through the mapping.
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile(*std::move(opened)));
  file->mapping_ = mapping;
  file->mapping_size_ = file_size;

  const auto* bytes = static_cast<const std::byte*>(mapping);
  uint64_t header_size = 0;
  std::memcpy(&header_size, bytes, 8);  // little-endian on every host we run on
  if (header_size > kMaxHeaderBytes || header_size > file_size - 8) {
    return Corrupt(path, absl::StrFormat("header length %d exceeds the file (%d bytes): truncated or not safetensors",
                                         header_size, file_size));
  }
  const std::string header_text(reinterpret_cast<const char*>(bytes + 8), header_size);
  const nlohmann::json header = nlohmann::json::parse(header_text, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) return Corrupt(path, "header is not a JSON object");

  file->data_offset_ = 8 + header_size;
  file->data_ = bytes + file->data_offset_;
  const uint64_t data_size = file_size - 8 - header_size;
  std::vector<const TensorInfo*> by_offset;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    if (!entry.is_object() || !entry.contains("dtype") || !entry["dtype"].is_string() || !entry.contains("shape") ||
        !entry["shape"].is_array() || !entry.contains("data_offsets") || !entry["data_offsets"].is_array() ||
        entry["data_offsets"].size() != 2) {
      return Corrupt(path, absl::StrCat("tensor \"", name, "\" needs dtype, shape and data_offsets"));
    }
    TensorInfo info;
    info.name = name;
    absl::StatusOr<DType> dtype = ParseDType(entry["dtype"].get<std::string>());
    if (!dtype.ok()) return Corrupt(path, absl::StrCat("tensor \"", name, "\": ", dtype.status().message()));
    info.dtype = *dtype;
    uint64_t elements = 1;
    for (const auto& dim : entry["shape"]) {
      if (!dim.is_number_unsigned()) return Corrupt(path, absl::StrCat("tensor \"", name, "\" has a bad shape"));
      const uint64_t d = dim.get<uint64_t>();
      if (d != 0 && elements > std::numeric_limits<uint64_t>::max() / 16 / d) {
        return Corrupt(path, absl::StrCat("tensor \"", name, "\" shape overflows"));
      }
      elements *= d;
      info.shape.push_back(static_cast<int64_t>(d));
    }
    const auto& offsets = entry["data_offsets"];
    if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned()) {
      return Corrupt(path, absl::StrCat("tensor \"", name, "\" has bad data_offsets"));
    }
    info.begin = offsets[0].get<uint64_t>();
    info.end = offsets[1].get<uint64_t>();
    if (info.end < info.begin || info.end - info.begin != elements * DTypeSize(info.dtype)) {
      return Corrupt(path, absl::StrFormat("tensor \"%s\" spans %d bytes but its shape needs %d", name,
                                           info.end - info.begin, elements * DTypeSize(info.dtype)));
    }
    if (info.end > data_size) {
      return Corrupt(path, absl::StrFormat("tensor \"%s\" ends at byte %d of a %d-byte data section (truncated file?)",
                                           name, info.end, data_size));
    }
    auto [it, inserted] = file->tensors_.emplace(name, std::move(info));
    by_offset.push_back(&it->second);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      return Corrupt(path, absl::StrCat("tensors \"", by_offset[i - 1]->name, "\" and \"", by_offset[i]->name,
                                        "\" overlap"));
    }
  }
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

const TensorInfo* SafetensorsFile::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

std::span<const std::byte> SafetensorsFile::Data(const TensorInfo& tensor) const {
  return {data_ + tensor.begin, tensor.bytes()};
}

absl::StatusOr<std::unique_ptr<SafetensorsModel>> SafetensorsModel::Open(const std::string& directory) {
  namespace fs = std::filesystem;
  auto model = std::make_unique<SafetensorsModel>();
  std::vector<std::string> shard_names;
  std::vector<std::pair<std::string, std::string>> index_entries;  // tensor, shard
  const fs::path index_path = fs::path(directory) / "model.safetensors.index.json";
  std::error_code ec;
  if (fs::exists(index_path, ec)) {
    std::ifstream in(index_path);
    std::stringstream text;
    text << in.rdbuf();
    const nlohmann::json index = nlohmann::json::parse(text.str(), nullptr, false);
    if (index.is_discarded() || !index.is_object() || !index.contains("weight_map") ||
        !index["weight_map"].is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(index_path.string(), " is not a valid index (needs weight_map)"));
    }
    for (const auto& [tensor, shard] : index["weight_map"].items()) {
      if (!shard.is_string()) return absl::InvalidArgumentError(absl::StrCat(index_path.string(), ": bad weight_map"));
      const std::string name = shard.get<std::string>();
      index_entries.emplace_back(tensor, name);
      if (name.find('/') != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(index_path.string(), ": shard name ", name, " has a '/'"));
      }
      if (std::find(shard_names.begin(), shard_names.end(), name) == shard_names.end()) shard_names.push_back(name);
    }
  } else if (fs::exists(fs::path(directory) / "model.safetensors", ec)) {
    shard_names.push_back("model.safetensors");
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("no model.safetensors or model.safetensors.index.json in ", directory));
  }
  std::map<DType, uint64_t> bytes_by_dtype;
  for (const std::string& shard : shard_names) {
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open((fs::path(directory) / shard).string());
    if (!file.ok()) {
      if (absl::IsNotFound(file.status())) {
        return absl::InvalidArgumentError(absl::StrCat("shard listed in the index is missing: ", shard));
      }
      return file.status();
    }
    for (const auto& [name, info] : (*file)->tensors()) {
      if (!model->index_.emplace(name, std::make_pair(file->get(), &info)).second) {
        return absl::InvalidArgumentError(absl::StrCat("tensor \"", name, "\" appears in more than one shard"));
      }
      model->total_bytes_ += info.bytes();
      bytes_by_dtype[info.dtype] += info.bytes();
    }
    model->files_.push_back(*std::move(file));
  }
  // The index must describe the shards as they are.
  for (const auto& [tensor, shard] : index_entries) {
    auto it = model->index_.find(tensor);
    if (it == model->index_.end() || fs::path(it->second.first->path()).filename() != shard) {
      return absl::InvalidArgumentError(absl::StrCat("model.safetensors.index.json puts tensor \"", tensor, "\" in ",
                                                     shard, ", which does not hold it"));
    }
  }
  uint64_t best = 0;
  for (const auto& [dtype, bytes] : bytes_by_dtype) {
    if (bytes > best) {
      best = bytes;
      model->predominant_dtype_ = dtype;
    }
  }
  return model;
}

const TensorInfo* SafetensorsModel::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second.second;
}

std::span<const std::byte> SafetensorsModel::Data(const TensorInfo& tensor) const {
  return index_.at(tensor.name).first->Data(tensor);
}

const SafetensorsFile& SafetensorsModel::FileOf(const TensorInfo& tensor) const {
  return *index_.at(tensor.name).first;
}

}  // namespace djinn

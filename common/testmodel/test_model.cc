#include "common/testmodel/test_model.h"

#include <filesystem>
#include <regex>
#include <system_error>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/testmodel/llama_layout.h"
#include "common/testmodel/output_file.h"
#include "common/testmodel/presets.h"
#include "common/testmodel/random_weights.h"
#include "common/testmodel/safetensors_writer.h"
#include "common/testmodel/shard_plan.h"
#include "common/testmodel/tokenizer_trainer.h"

namespace djinn::testmodel {
namespace {

namespace fs = std::filesystem;

// Removes weight files of an earlier, differently sharded model in `dir`, so
// that a loader never sees a mix of two models.
absl::Status RemoveStaleWeights(const fs::path& dir, const ShardPlan& plan) {
  static const std::regex kWeightFile(
      R"(model(-\d{5}-of-\d{5})?\.safetensors(\.index\.json)?)");
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!std::regex_match(name, kWeightFile)) continue;
    bool planned = false;
    for (const std::string& f : plan.file_names) planned |= (f == name);
    if (!planned) fs::remove(entry.path(), ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot remove ", name, ": ", ec.message()));
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", dir.string(), ": ", ec.message()));
  return absl::OkStatus();
}

std::string JsonFile(const nlohmann::json& json) { return json.dump(2) + "\n"; }

}  // namespace

absl::Status WriteTestModel(const TestModelOptions& options) {
  absl::StatusOr<ModelPreset> preset = FindPreset(options.preset);
  if (!preset.ok()) return preset.status();
  TensorDType dtype = preset->default_dtype;
  if (!options.dtype.empty()) {
    absl::StatusOr<TensorDType> parsed = ParseTorchDType(options.dtype);
    if (!parsed.ok()) return parsed.status();
    dtype = *parsed;
  }
  if (options.out_dir.empty()) return absl::InvalidArgumentError("out_dir is empty");
  const fs::path dir(options.out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create ", options.out_dir, ": ", ec.message()));
  }

  const std::vector<LlamaTensor> tensors = LlamaTensors(*preset);
  std::vector<std::string> names;
  std::vector<uint64_t> bytes;
  std::vector<uint64_t> keys;
  for (const LlamaTensor& t : tensors) {
    uint64_t elements = 1;
    for (int64_t d : t.shape) elements *= static_cast<uint64_t>(d);
    names.push_back(t.name);
    bytes.push_back(elements * DTypeSize(dtype));
    keys.push_back(TensorStreamKey(options.seed, t.name));
  }
  const ShardPlan plan = PlanShards(bytes, preset->max_shard_bytes);
  if (absl::Status s = RemoveStaleWeights(dir, plan); !s.ok()) return s;

  // Per shard: its entries, and for each entry the index into `tensors`.
  const size_t shards = plan.file_names.size();
  std::vector<std::vector<SafetensorsEntry>> entries(shards);
  std::vector<std::vector<size_t>> tensor_of(shards);
  for (size_t i = 0; i < tensors.size(); ++i) {
    entries[plan.shard_of[i]].push_back({tensors[i].name, tensors[i].shape, dtype});
    tensor_of[plan.shard_of[i]].push_back(i);
  }
  uint64_t total = 0;
  for (size_t s = 0; s < shards; ++s) {
    absl::StatusOr<SafetensorsLayout> layout = PlanSafetensors(entries[s]);
    if (!layout.ok()) return layout.status();
    total += layout->file_size();
  }

  uint64_t written = 0;
  SafetensorsWriteOptions write_options;
  write_options.on_bytes_written = [&](uint64_t n) {
    written += n;
    if (options.on_progress) options.on_progress(written, total);
  };
  for (size_t s = 0; s < shards; ++s) {
    const std::vector<size_t>& which = tensor_of[s];
    auto fill = [&](size_t entry, uint64_t first, uint64_t count, uint8_t* out) {
      const size_t t = which[entry];
      FillWeights(keys[t], tensors[t].init, dtype, first, count, out);
    };
    absl::Status status =
        WriteSafetensors((dir / plan.file_names[s]).string(), entries[s], fill, write_options);
    if (!status.ok()) return status;
  }
  if (shards > 1) {
    absl::Status status = WriteFileAtomically((dir / "model.safetensors.index.json").string(),
                                              JsonFile(ShardIndexJson(names, bytes, plan)));
    if (!status.ok()) return status;
  }

  absl::StatusOr<std::string> tokenizer = CachedTokenizerModel();
  if (!tokenizer.ok()) return tokenizer.status();
  if (absl::Status s = WriteFileAtomically((dir / "tokenizer.model").string(), *tokenizer);
      !s.ok()) {
    return s;
  }
  const nlohmann::json generation = {{"bos_token_id", 1}, {"eos_token_id", 2}};
  if (absl::Status s =
          WriteFileAtomically((dir / "generation_config.json").string(), JsonFile(generation));
      !s.ok()) {
    return s;
  }
  // Last: a directory with a config.json holds a complete model.
  return WriteFileAtomically((dir / "config.json").string(),
                             JsonFile(HfConfigJson(*preset, dtype)));
}

}  // namespace djinn::testmodel

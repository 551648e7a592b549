#include "common/testmodel/shard_plan.h"

#include "absl/strings/str_format.h"

namespace djinn::testmodel {

ShardPlan PlanShards(const std::vector<uint64_t>& tensor_bytes, uint64_t max_shard_bytes) {
  ShardPlan plan;
  plan.shard_of.resize(tensor_bytes.size(), 0);
  size_t shards = 1;
  if (max_shard_bytes > 0) {
    uint64_t in_current = 0;
    for (size_t i = 0; i < tensor_bytes.size(); ++i) {
      if (i > 0 && in_current + tensor_bytes[i] > max_shard_bytes) {
        ++shards;
        in_current = 0;
      }
      plan.shard_of[i] = shards - 1;
      in_current += tensor_bytes[i];
    }
  }
  if (shards == 1) {
    plan.file_names = {"model.safetensors"};
  } else {
    for (size_t s = 0; s < shards; ++s) plan.file_names.push_back(ShardFileName(s, shards));
  }
  return plan;
}

std::string ShardFileName(size_t index, size_t count) {
  return absl::StrFormat("model-%05d-of-%05d.safetensors", index + 1, count);
}

nlohmann::json ShardIndexJson(const std::vector<std::string>& tensor_names,
                              const std::vector<uint64_t>& tensor_bytes, const ShardPlan& plan) {
  uint64_t total = 0;
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t i = 0; i < tensor_names.size(); ++i) {
    total += tensor_bytes[i];
    weight_map[tensor_names[i]] = plan.file_names[plan.shard_of[i]];
  }
  return {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
}

}  // namespace djinn::testmodel

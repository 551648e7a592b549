// Splits a checkpoint's tensors over safetensors files the way HF's
// save_pretrained does: greedily, in module order, each file holding at most
// max_shard_bytes of tensor data; and writes the index that maps tensor
// names to files.
#ifndef DJINN_COMMON_TESTMODEL_SHARD_PLAN_H_
#define DJINN_COMMON_TESTMODEL_SHARD_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace djinn::testmodel {

struct ShardPlan {
  std::vector<std::string> file_names;  // "model.safetensors" when not sharded
  std::vector<size_t> shard_of;         // per tensor: index into file_names
};

// tensor_bytes in module order. max_shard_bytes 0 means one file. A tensor
// larger than max_shard_bytes gets a file of its own.
ShardPlan PlanShards(const std::vector<uint64_t>& tensor_bytes, uint64_t max_shard_bytes);

// "model-00002-of-00006.safetensors" for shard index 1 of 6.
std::string ShardFileName(size_t index, size_t count);

// model.safetensors.index.json: {"metadata": {"total_size": sum of tensor
// bytes}, "weight_map": {tensor name: file name}}.
nlohmann::json ShardIndexJson(const std::vector<std::string>& tensor_names,
                              const std::vector<uint64_t>& tensor_bytes, const ShardPlan& plan);

}  // namespace djinn::testmodel

#endif  // DJINN_COMMON_TESTMODEL_SHARD_PLAN_H_

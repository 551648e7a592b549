// The part of a model's generation_config.json that Djinn uses: its
// eos_token_id, an int or a list (Llama 3.1 Instruct stops on 128001,
// 128008 and 128009 there while config.json names one). The tokens a
// generation stops on are the union of config.json's and these.
#ifndef DJINN_COMMON_GENERATION_CONFIG_H_
#define DJINN_COMMON_GENERATION_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace djinn {

// <directory>/generation_config.json's eos_token_id; empty when the file or
// the key is absent (or null). INVALID_ARGUMENT naming the file when it is
// not JSON or eos_token_id is neither an int nor a list of ints.
absl::StatusOr<std::vector<int64_t>> LoadGenerationEosTokenIds(const std::string& directory);
absl::StatusOr<std::vector<int64_t>> ParseGenerationEosTokenIds(const std::string& json_text);

// `a` then the ids of `b` that `a` lacks, in order.
std::vector<int64_t> UnionOfTokenIds(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

}  // namespace djinn

#endif  // DJINN_COMMON_GENERATION_CONFIG_H_

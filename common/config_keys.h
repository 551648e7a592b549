// Every config.json key Djinn knows, and what it does with each per
// architecture: used (read, and its value checked), ignored as harmless (it
// cannot change the logits: training settings, bookkeeping, generation
// defaults that requests override), or refused (it would change the
// computation in a way Djinn does not implement). A key not in this table is
// refused too: fail closed. docs/models.md prints the same table, and a unit
// test checks that the two agree both ways.
#ifndef DJINN_COMMON_CONFIG_KEYS_H_
#define DJINN_COMMON_CONFIG_KEYS_H_

#include <array>
#include <optional>
#include <span>
#include <string_view>

namespace djinn {

// The HF architectures Djinn serves (config.json "architectures"[0]).
enum class Architecture { kLlama, kMistral, kQwen2, kQwen3 };
inline constexpr int kArchitectureCount = 4;
inline constexpr std::array<Architecture, kArchitectureCount> kArchitectures = {
    Architecture::kLlama, Architecture::kMistral, Architecture::kQwen2, Architecture::kQwen3};

// "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM".
std::string_view ArchitectureName(Architecture architecture);
// HF's model_type for it: "llama", "mistral", "qwen2", "qwen3".
std::string_view ModelTypeName(Architecture architecture);
std::optional<Architecture> ArchitectureFromName(std::string_view name);

enum class KeyUse { kUsed, kIgnored, kRefused };
std::string_view KeyUseName(KeyUse use);  // "used", "ignored", "refused"

struct ConfigKey {
  std::string_view name;
  std::array<KeyUse, kArchitectureCount> use;  // indexed by Architecture
  KeyUse For(Architecture architecture) const { return use[static_cast<int>(architecture)]; }
};

// The top-level keys of config.json.
std::span<const ConfigKey> ConfigKeys();
// The keys inside rope_parameters (5.x) / rope_scaling (4.x); the same for
// every architecture (use[0] is the classification).
std::span<const ConfigKey> RopeKeys();

// kRefused for a key the table does not name.
KeyUse ClassifyConfigKey(Architecture architecture, std::string_view key);
KeyUse ClassifyRopeKey(std::string_view key);

}  // namespace djinn

#endif  // DJINN_COMMON_CONFIG_KEYS_H_

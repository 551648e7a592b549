#include "common/config_keys.h"

#include <algorithm>

namespace djinn {
namespace {

constexpr KeyUse U = KeyUse::kUsed;
constexpr KeyUse I = KeyUse::kIgnored;
constexpr KeyUse R = KeyUse::kRefused;

// Columns: Llama, Mistral, Qwen2, Qwen3 (the order of Architecture). Keep in
// step with docs/models.md (model_config_test checks it).
constexpr ConfigKey kConfigKeys[] = {
    // The model's shape and numerics (model_config.cc reads each).
    {"architectures", {U, U, U, U}},
    {"model_type", {U, U, U, U}},
    {"hidden_size", {U, U, U, U}},
    {"intermediate_size", {U, U, U, U}},
    {"num_hidden_layers", {U, U, U, U}},
    {"num_attention_heads", {U, U, U, U}},
    {"num_key_value_heads", {U, U, U, U}},
    {"head_dim", {U, U, U, U}},
    {"vocab_size", {U, U, U, U}},
    {"max_position_embeddings", {U, U, U, U}},
    {"rms_norm_eps", {U, U, U, U}},
    {"hidden_act", {U, U, U, U}},
    {"tie_word_embeddings", {U, U, U, U}},
    {"rope_theta", {U, U, U, U}},
    {"rope_scaling", {U, U, U, U}},
    {"rope_parameters", {U, U, U, U}},
    {"bos_token_id", {U, U, U, U}},
    {"eos_token_id", {U, U, U, U}},
    {"torch_dtype", {U, U, U, U}},
    {"dtype", {U, U, U, U}},
    // Biases, per-head norms and attention windows: what tells the
    // architectures apart. HF's class for an architecture ignores the keys
    // it does not define; Djinn refuses them (unless null or false), since
    // a checkpoint that sets them expects something HF would not compute.
    {"attention_bias", {U, R, R, U}},
    {"mlp_bias", {U, R, R, R}},
    {"sliding_window", {R, U, U, U}},
    {"use_sliding_window", {R, R, U, U}},
    {"max_window_layers", {R, R, I, I}},
    {"layer_types", {R, R, U, U}},
    // Mathematically the same products (Llama's slicing for tensor-parallel
    // pretraining; HF 5 no longer reads it).
    {"pretraining_tp", {I, R, R, R}},
    // Bookkeeping, training-only settings and output switches.
    {"_name_or_path", {I, I, I, I}},
    {"transformers_version", {I, I, I, I}},
    {"_attn_implementation_autoset", {I, I, I, I}},
    {"use_cache", {I, I, I, I}},
    {"initializer_range", {I, I, I, I}},
    {"attention_dropout", {I, I, I, I}},
    {"pad_token_id", {I, I, I, I}},
    {"sep_token_id", {I, I, I, I}},
    {"decoder_start_token_id", {I, I, I, I}},
    {"output_attentions", {I, I, I, I}},
    {"output_hidden_states", {I, I, I, I}},
    {"return_dict", {I, I, I, I}},
    {"torchscript", {I, I, I, I}},
    {"use_bfloat16", {I, I, I, I}},
    {"chunk_size_feed_forward", {I, I, I, I}},
    {"pruned_heads", {I, I, I, I}},
    {"is_decoder", {I, I, I, I}},
    {"id2label", {I, I, I, I}},
    {"label2id", {I, I, I, I}},
    {"num_labels", {I, I, I, I}},
    {"problem_type", {I, I, I, I}},
    {"finetuning_task", {I, I, I, I}},
    {"tokenizer_class", {I, I, I, I}},
    {"prefix", {I, I, I, I}},
    {"task_specific_params", {I, I, I, I}},
    // Generation defaults that old configs carry: HF 5 drops them on load,
    // and a Djinn request sets its own sampling.
    {"max_length", {I, I, I, I}},
    {"min_length", {I, I, I, I}},
    {"do_sample", {I, I, I, I}},
    {"early_stopping", {I, I, I, I}},
    {"num_beams", {I, I, I, I}},
    {"num_beam_groups", {I, I, I, I}},
    {"diversity_penalty", {I, I, I, I}},
    {"temperature", {I, I, I, I}},
    {"top_k", {I, I, I, I}},
    {"top_p", {I, I, I, I}},
    {"typical_p", {I, I, I, I}},
    {"repetition_penalty", {I, I, I, I}},
    {"length_penalty", {I, I, I, I}},
    {"no_repeat_ngram_size", {I, I, I, I}},
    {"encoder_no_repeat_ngram_size", {I, I, I, I}},
    {"bad_words_ids", {I, I, I, I}},
    {"num_return_sequences", {I, I, I, I}},
    {"output_scores", {I, I, I, I}},
    {"return_dict_in_generate", {I, I, I, I}},
    {"forced_bos_token_id", {I, I, I, I}},
    {"forced_eos_token_id", {I, I, I, I}},
    {"remove_invalid_values", {I, I, I, I}},
    {"exponential_decay_length_penalty", {I, I, I, I}},
    {"suppress_tokens", {I, I, I, I}},
    {"begin_suppress_tokens", {I, I, I, I}},
    // Known and refused (unless null or false): they change the
    // computation in ways Djinn does not implement.
    {"quantization_config", {R, R, R, R}},
    {"auto_map", {R, R, R, R}},
    {"is_encoder_decoder", {R, R, R, R}},
    {"add_cross_attention", {R, R, R, R}},
    {"tie_encoder_decoder", {R, R, R, R}},
    {"cross_attention_hidden_size", {R, R, R, R}},
    {"partial_rotary_factor", {R, R, R, R}},
    {"attn_logit_softcapping", {R, R, R, R}},
    {"final_logit_softcapping", {R, R, R, R}},
    {"use_qk_norm", {R, R, R, R}},
    {"per_layer_config", {R, R, R, R}},
};

// Inside rope_parameters / rope_scaling (one column: the same for all).
constexpr ConfigKey kRopeKeys[] = {
    {"rope_type", {U, U, U, U}},
    {"type", {U, U, U, U}},  // the 4.x spelling of rope_type
    {"rope_theta", {U, U, U, U}},
    {"factor", {U, U, U, U}},
    {"low_freq_factor", {U, U, U, U}},
    {"high_freq_factor", {U, U, U, U}},
    {"original_max_position_embeddings", {U, U, U, U}},
    {"partial_rotary_factor", {U, U, U, U}},  // accepted only as 1.0
    {"attention_factor", {R, R, R, R}},
    {"beta_fast", {R, R, R, R}},
    {"beta_slow", {R, R, R, R}},
    {"short_factor", {R, R, R, R}},
    {"long_factor", {R, R, R, R}},
    {"mscale", {R, R, R, R}},
    {"mscale_all_dim", {R, R, R, R}},
    {"truncate", {R, R, R, R}},
    {"mrope_section", {R, R, R, R}},
};

constexpr std::string_view kArchitectureNames[] = {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM",
                                                   "Qwen3ForCausalLM"};
constexpr std::string_view kModelTypes[] = {"llama", "mistral", "qwen2", "qwen3"};

const ConfigKey* Find(std::span<const ConfigKey> keys, std::string_view name) {
  auto it = std::find_if(keys.begin(), keys.end(), [&](const ConfigKey& k) { return k.name == name; });
  return it == keys.end() ? nullptr : &*it;
}

}  // namespace

std::string_view ArchitectureName(Architecture architecture) {
  return kArchitectureNames[static_cast<int>(architecture)];
}

std::string_view ModelTypeName(Architecture architecture) { return kModelTypes[static_cast<int>(architecture)]; }

std::optional<Architecture> ArchitectureFromName(std::string_view name) {
  for (Architecture a : kArchitectures) {
    if (ArchitectureName(a) == name) return a;
  }
  return std::nullopt;
}

std::string_view KeyUseName(KeyUse use) {
  switch (use) {
    case KeyUse::kUsed:
      return "used";
    case KeyUse::kIgnored:
      return "ignored";
    case KeyUse::kRefused:
      return "refused";
  }
  return "refused";
}

std::span<const ConfigKey> ConfigKeys() { return kConfigKeys; }
std::span<const ConfigKey> RopeKeys() { return kRopeKeys; }

KeyUse ClassifyConfigKey(Architecture architecture, std::string_view key) {
  const ConfigKey* found = Find(kConfigKeys, key);
  return found == nullptr ? KeyUse::kRefused : found->For(architecture);
}

KeyUse ClassifyRopeKey(std::string_view key) {
  const ConfigKey* found = Find(kRopeKeys, key);
  return found == nullptr ? KeyUse::kRefused : found->use[0];
}

}  // namespace djinn

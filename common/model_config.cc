#include "common/model_config.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace djinn {
namespace {

using nlohmann::json;

absl::Status Bad(const std::string& what) { return absl::InvalidArgumentError(absl::StrCat("config.json: ", what)); }

absl::Status ReadPositiveInt(const json& config, const char* key, bool required, int64_t* out) {
  if (!config.contains(key) || config[key].is_null()) {
    return required ? Bad(absl::StrCat("missing \"", key, "\"")) : absl::OkStatus();
  }
  const json& value = config[key];
  if (!value.is_number_integer() || value.get<int64_t>() <= 0) {
    return Bad(absl::StrCat("\"", key, "\" must be a positive integer, got ", value.dump()));
  }
  *out = value.get<int64_t>();
  return absl::OkStatus();
}

absl::Status ReadNumber(const json& config, const char* key, double* out) {
  if (!config.contains(key) || config[key].is_null()) return absl::OkStatus();
  if (!config[key].is_number()) return Bad(absl::StrCat("\"", key, "\" must be a number"));
  *out = config[key].get<double>();
  return absl::OkStatus();
}

absl::Status ParseRopeScaling(const json& value, RopeScaling* out) {
  if (value.is_null()) return absl::OkStatus();
  if (!value.is_object()) return Bad("\"rope_scaling\" must be an object or null");
  std::string type;
  if (value.contains("rope_type") && value["rope_type"].is_string()) {
    type = value["rope_type"].get<std::string>();
  } else if (value.contains("type") && value["type"].is_string()) {
    type = value["type"].get<std::string>();  // older configs
  }
  auto number = [&](const char* key, double* field) -> absl::Status {
    if (!value.contains(key)) return absl::OkStatus();
    if (!value[key].is_number()) return Bad(absl::StrCat("rope_scaling.", key, " must be a number"));
    *field = value[key].get<double>();
    return absl::OkStatus();
  };
  if (type == "default") return absl::OkStatus();
  if (type == "linear") {
    out->type = RopeScaling::Type::kLinear;
    if (absl::Status s = number("factor", &out->factor); !s.ok()) return s;
  } else if (type == "llama3") {
    out->type = RopeScaling::Type::kLlama3;
    double original = static_cast<double>(out->original_max_position_embeddings);
    for (auto [key, field] : {std::pair{"factor", &out->factor}, std::pair{"low_freq_factor", &out->low_freq_factor},
                              std::pair{"high_freq_factor", &out->high_freq_factor},
                              std::pair{"original_max_position_embeddings", &original}}) {
      if (absl::Status s = number(key, field); !s.ok()) return s;
    }
    out->original_max_position_embeddings = static_cast<int64_t>(original);
    if (out->low_freq_factor >= out->high_freq_factor) {
      return Bad("rope_scaling: low_freq_factor must be below high_freq_factor");
    }
  } else {
    return Bad(absl::StrCat("unsupported rope_scaling type \"", type, "\" (Djinn supports linear and llama3)"));
  }
  if (out->factor <= 0) return Bad("rope_scaling.factor must be positive");
  return absl::OkStatus();
}

}  // namespace

uint64_t ModelConfig::ParameterCount() const {
  const uint64_t h = hidden_size, layers = num_hidden_layers;
  const uint64_t attention = h * q_dim() * 2 + h * kv_dim() * 2;
  const uint64_t mlp = 3 * h * intermediate_size;
  const uint64_t norms = 2 * h;
  const uint64_t embeddings = vocab_size * h * (tie_word_embeddings ? 1 : 2);
  return layers * (attention + mlp + norms) + embeddings + h;
}

absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text) {
  const json config = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) return Bad("not valid JSON");
  if (!config.is_object()) return Bad("top level must be an object");

  ModelConfig out;
  if (!config.contains("architectures") || !config["architectures"].is_array() || config["architectures"].empty() ||
      !config["architectures"][0].is_string()) {
    return Bad("missing \"architectures\"");
  }
  out.architecture = config["architectures"][0].get<std::string>();
  if (out.architecture != "LlamaForCausalLM") {
    return Bad(absl::StrCat("unsupported architecture \"", out.architecture,
                            "\" (Djinn serves LlamaForCausalLM)"));
  }
  for (auto [key, field] : {std::pair{"hidden_size", &out.hidden_size},
                            std::pair{"intermediate_size", &out.intermediate_size},
                            std::pair{"num_hidden_layers", &out.num_hidden_layers},
                            std::pair{"num_attention_heads", &out.num_attention_heads},
                            std::pair{"vocab_size", &out.vocab_size},
                            std::pair{"max_position_embeddings", &out.max_position_embeddings}}) {
    if (absl::Status s = ReadPositiveInt(config, key, /*required=*/true, field); !s.ok()) return s;
  }
  out.num_key_value_heads = out.num_attention_heads;
  if (absl::Status s = ReadPositiveInt(config, "num_key_value_heads", false, &out.num_key_value_heads); !s.ok()) {
    return s;
  }
  if (out.hidden_size % out.num_attention_heads != 0 && !config.contains("head_dim")) {
    return Bad("hidden_size is not a multiple of num_attention_heads and no head_dim is given");
  }
  out.head_dim = out.hidden_size / out.num_attention_heads;
  if (absl::Status s = ReadPositiveInt(config, "head_dim", false, &out.head_dim); !s.ok()) return s;
  if (out.head_dim % 2 != 0) return Bad("head_dim must be even for rotary embeddings");
  if (out.num_attention_heads % out.num_key_value_heads != 0) {
    return Bad("num_attention_heads must be a multiple of num_key_value_heads");
  }
  if (absl::Status s = ReadNumber(config, "rms_norm_eps", &out.rms_norm_eps); !s.ok()) return s;
  if (absl::Status s = ReadNumber(config, "rope_theta", &out.rope_theta); !s.ok()) return s;
  if (out.rope_theta <= 0) return Bad("rope_theta must be positive");
  if (config.contains("rope_scaling")) {
    if (absl::Status s = ParseRopeScaling(config["rope_scaling"], &out.rope_scaling); !s.ok()) return s;
  }
  if (config.contains("tie_word_embeddings")) {
    if (!config["tie_word_embeddings"].is_boolean()) return Bad("\"tie_word_embeddings\" must be true or false");
    out.tie_word_embeddings = config["tie_word_embeddings"].get<bool>();
  }
  if (config.contains("hidden_act") && config["hidden_act"] != "silu") {
    return Bad(absl::StrCat("unsupported hidden_act ", config["hidden_act"].dump(), " (Llama uses silu)"));
  }
  for (const char* key : {"attention_bias", "mlp_bias"}) {
    if (config.contains(key) && config[key] == true) return Bad(absl::StrCat("\"", key, "\": true is not supported"));
  }
  if (config.contains("bos_token_id") && config["bos_token_id"].is_number_integer()) {
    out.bos_token_id = config["bos_token_id"].get<int64_t>();
  }
  if (config.contains("eos_token_id")) {
    const json& eos = config["eos_token_id"];
    if (eos.is_number_integer()) {
      out.eos_token_ids.push_back(eos.get<int64_t>());
    } else if (eos.is_array()) {
      for (const json& id : eos) {
        if (!id.is_number_integer()) return Bad("\"eos_token_id\" must be an integer or a list of integers");
        out.eos_token_ids.push_back(id.get<int64_t>());
      }
    } else if (!eos.is_null()) {
      return Bad("\"eos_token_id\" must be an integer or a list of integers");
    }
  }
  if (config.contains("torch_dtype") && config["torch_dtype"].is_string()) {
    out.torch_dtype = config["torch_dtype"].get<std::string>();
  }
  return out;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& directory) {
  const std::filesystem::path path = std::filesystem::path(directory) / "config.json";
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("no config.json in ", directory));
  std::stringstream text;
  text << in.rdbuf();
  return ParseModelConfig(text.str());
}

}  // namespace djinn

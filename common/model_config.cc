#include "common/model_config.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace djinn {
namespace {

using nlohmann::json;

absl::Status Bad(const std::string& what) { return absl::InvalidArgumentError(absl::StrCat("config.json: ", what)); }

// A key that is absent or null: HF treats both as "use the default".
const json* Present(const json& object, const std::string& key) {
  auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

absl::Status ReadPositiveInt(const json& config, const char* key, bool required, int64_t* out) {
  const json* value = Present(config, key);
  if (value == nullptr) return required ? Bad(absl::StrCat("missing \"", key, "\"")) : absl::OkStatus();
  if (!value->is_number_integer() || value->get<int64_t>() <= 0) {
    return Bad(absl::StrCat("\"", key, "\" must be a positive integer, got ", value->dump()));
  }
  *out = value->get<int64_t>();
  return absl::OkStatus();
}

absl::Status ReadNumber(const json& object, const std::string& key, const std::string& shown, double* out) {
  const json* value = Present(object, key);
  if (value == nullptr) return absl::OkStatus();
  if (!value->is_number()) return Bad(absl::StrCat("\"", shown, "\" must be a number, got ", value->dump()));
  *out = value->get<double>();
  return absl::OkStatus();
}

absl::Status ReadBool(const json& config, const char* key, bool* out) {
  const json* value = Present(config, key);
  if (value == nullptr) return absl::OkStatus();
  if (!value->is_boolean()) return Bad(absl::StrCat("\"", key, "\" must be true or false"));
  *out = value->get<bool>();
  return absl::OkStatus();
}

// A refused key may still be present in the form that means "off".
bool IsOff(const json& value) { return value.is_null() || (value.is_boolean() && !value.get<bool>()); }

// Every top-level key against the table of config_keys.h.
absl::Status CheckKeys(const json& config, Architecture arch) {
  for (auto it = config.begin(); it != config.end(); ++it) {
    const std::string& key = it.key();
    if (ClassifyConfigKey(arch, key) != KeyUse::kRefused) continue;
    if (IsOff(it.value())) continue;
    const bool known = std::any_of(ConfigKeys().begin(), ConfigKeys().end(),
                                   [&](const ConfigKey& k) { return k.name == key; });
    if (!known) {
      return Bad(absl::StrCat("unknown key \"", key, "\" (Djinn refuses keys that could change the model's output; ",
                              "docs/models.md lists the keys it reads and the ones it ignores)"));
    }
    return Bad(absl::StrCat("\"", key, "\": ", it.value().dump(), " is not supported for ",
                            std::string(ArchitectureName(arch)), " (see docs/models.md)"));
  }
  return absl::OkStatus();
}

// rope_parameters (5.x) or rope_scaling (4.x): the rope type, its
// parameters and (in 5.x) rope_theta. `where` names the key in messages.
absl::Status ParseRope(const json& value, const std::string& where, double* theta, RopeScaling* out) {
  if (!value.is_object()) return Bad(absl::StrCat("\"", where, "\" must be an object or null"));
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (ClassifyRopeKey(it.key()) == KeyUse::kRefused) {
      return Bad(absl::StrCat("\"", where, ".", it.key(), "\" is not supported (see docs/models.md)"));
    }
  }
  std::string type = "default";
  const json* rope_type = Present(value, "rope_type");
  const json* old_type = Present(value, "type");
  for (const json* t : {rope_type, old_type}) {
    if (t != nullptr && !t->is_string()) return Bad(absl::StrCat("\"", where, "\" rope type must be a string"));
  }
  if (rope_type != nullptr && old_type != nullptr && *rope_type != *old_type) {
    return Bad(absl::StrCat("\"", where, "\" gives two rope types, ", rope_type->dump(), " and ", old_type->dump()));
  }
  if (rope_type != nullptr) type = rope_type->get<std::string>();
  if (rope_type == nullptr && old_type != nullptr) type = old_type->get<std::string>();

  if (absl::Status s = ReadNumber(value, "rope_theta", where + ".rope_theta", theta); !s.ok()) return s;
  double partial = 1.0;
  if (absl::Status s = ReadNumber(value, "partial_rotary_factor", where + ".partial_rotary_factor", &partial);
      !s.ok()) {
    return s;
  }
  if (partial != 1.0) {
    return Bad(absl::StrCat("\"", where, ".partial_rotary_factor\" ", partial,
                            " is not supported (Djinn rotates whole heads)"));
  }
  // The keys each type reads; any other parameter would be ignored by HF's
  // computation, and a config that sets one probably meant another type.
  std::set<std::string> allowed = {"rope_type", "type", "rope_theta", "partial_rotary_factor",
                                   "original_max_position_embeddings"};
  auto number = [&](const char* key, bool required, double* field) -> absl::Status {
    if (required && Present(value, key) == nullptr) {
      return Bad(absl::StrCat("\"", where, "\" of type \"", type, "\" needs \"", key, "\""));
    }
    allowed.insert(key);
    return ReadNumber(value, key, absl::StrCat(where, ".", key), field);
  };
  if (type == "default") {
    out->type = RopeScaling::Type::kNone;
  } else if (type == "linear") {
    out->type = RopeScaling::Type::kLinear;
    if (absl::Status s = number("factor", true, &out->factor); !s.ok()) return s;
  } else if (type == "llama3") {
    out->type = RopeScaling::Type::kLlama3;
    double original = 0;
    for (auto [key, field] : {std::pair{"factor", &out->factor}, std::pair{"low_freq_factor", &out->low_freq_factor},
                              std::pair{"high_freq_factor", &out->high_freq_factor},
                              std::pair{"original_max_position_embeddings", &original}}) {
      if (absl::Status s = number(key, true, field); !s.ok()) return s;
    }
    if (original < 1 || original != static_cast<double>(static_cast<int64_t>(original))) {
      return Bad(absl::StrCat("\"", where, ".original_max_position_embeddings\" must be a positive integer"));
    }
    out->original_max_position_embeddings = static_cast<int64_t>(original);
    if (out->low_freq_factor >= out->high_freq_factor) {
      return Bad(absl::StrCat("\"", where, "\": low_freq_factor must be below high_freq_factor"));
    }
  } else {
    return Bad(absl::StrCat("unsupported rope type \"", type, "\" in \"", where,
                            "\" (Djinn implements default, linear and llama3)"));
  }
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (!allowed.contains(it.key()) && !it.value().is_null()) {
      return Bad(absl::StrCat("\"", where, ".", it.key(), "\" does not apply to rope type \"", type, "\""));
    }
  }
  if (!(out->factor > 0)) return Bad(absl::StrCat("\"", where, ".factor\" must be positive"));
  return absl::OkStatus();
}

// rope_theta and rope scaling from either layout. transformers 5 reads
// rope_parameters, taking rope_theta from the top level only when the dict
// lacks it; a config that gives both layouts with different values is
// ambiguous and refused.
absl::Status ParseRopeLayouts(const json& config, ModelConfig* out) {
  // NaN: not given (0 and negatives are given, and refused below).
  const double kNotGiven = std::numeric_limits<double>::quiet_NaN();
  double top_theta = kNotGiven, inner_theta = kNotGiven;
  if (absl::Status s = ReadNumber(config, "rope_theta", "rope_theta", &top_theta); !s.ok()) return s;
  const json* parameters = Present(config, "rope_parameters");
  const json* scaling = Present(config, "rope_scaling");
  if (parameters != nullptr && scaling != nullptr && *parameters != *scaling) {
    return Bad("both \"rope_parameters\" and \"rope_scaling\" are given, and they differ");
  }
  const json* rope = parameters != nullptr ? parameters : scaling;
  const std::string where = parameters != nullptr ? "rope_parameters" : "rope_scaling";
  if (rope != nullptr) {
    if (absl::Status s = ParseRope(*rope, where, &inner_theta, &out->rope_scaling); !s.ok()) return s;
  }
  if (!std::isnan(inner_theta) && !std::isnan(top_theta) && inner_theta != top_theta) {
    return Bad(absl::StrCat("\"rope_theta\" ", top_theta, " and \"", where, ".rope_theta\" ", inner_theta,
                            " differ"));
  }
  out->rope_theta = !std::isnan(inner_theta) ? inner_theta : !std::isnan(top_theta) ? top_theta : 10000.0;
  if (!(out->rope_theta > 0)) return Bad("rope_theta must be positive");
  return absl::OkStatus();
}

// Qwen2/Qwen3: sliding-window attention must be off (it is by default), and
// 5.x's layer_types must say so for every layer.
absl::Status CheckQwenAttention(const json& config, const ModelConfig& c) {
  bool use_sliding_window = false;
  if (absl::Status s = ReadBool(config, "use_sliding_window", &use_sliding_window); !s.ok()) return s;
  if (use_sliding_window) {
    return Bad("\"use_sliding_window\": true (sliding-window attention) is not supported");
  }
  if (const json* window = Present(config, "sliding_window");
      window != nullptr && !(window->is_number_integer() && window->get<int64_t>() > 0)) {
    return Bad(absl::StrCat("\"sliding_window\" must be a positive integer or null, got ", window->dump()));
  }
  if (const json* types = Present(config, "layer_types"); types != nullptr) {
    if (!types->is_array() || static_cast<int64_t>(types->size()) != c.num_hidden_layers) {
      return Bad("\"layer_types\" must list one type per layer");
    }
    for (const json& type : *types) {
      if (type != "full_attention") {
        return Bad(absl::StrCat("\"layer_types\": ", type.dump(), " is not supported (only \"full_attention\")"));
      }
    }
  }
  return absl::OkStatus();
}

// Mistral: HF's default window is 4096 when the key is absent; null is none.
absl::Status ReadMistralWindow(const json& config, ModelConfig* c) {
  auto it = config.find("sliding_window");
  if (it == config.end()) {
    c->sliding_window = 4096;
    return absl::OkStatus();
  }
  if (it->is_null()) return absl::OkStatus();
  return ReadPositiveInt(config, "sliding_window", false, &c->sliding_window);
}

}  // namespace

uint64_t ModelConfig::ParameterCount() const {
  const uint64_t h = hidden_size, layers = num_hidden_layers, q = q_dim(), kv = kv_dim(), inter = intermediate_size;
  uint64_t attention = h * q * 2 + h * kv * 2;
  if (qkv_bias) attention += q + 2 * kv;
  if (o_bias) attention += h;
  if (qk_norm) attention += 2 * static_cast<uint64_t>(head_dim);
  uint64_t mlp = 3 * h * inter;
  if (mlp_bias) mlp += 2 * inter + h;
  const uint64_t norms = 2 * h;
  const uint64_t embeddings = vocab_size * h * (tie_word_embeddings ? 1 : 2);
  return layers * (attention + mlp + norms) + embeddings + h;
}

absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text) {
  const json config = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) return Bad("not valid JSON");
  if (!config.is_object()) return Bad("top level must be an object");

  ModelConfig out;
  const json* architectures = Present(config, "architectures");
  if (architectures == nullptr || !architectures->is_array() || architectures->empty() ||
      !(*architectures)[0].is_string()) {
    return Bad("missing \"architectures\"");
  }
  if (architectures->size() > 1) return Bad(absl::StrCat("\"architectures\" names several: ", architectures->dump()));
  out.architecture = (*architectures)[0].get<std::string>();
  const std::optional<Architecture> arch = ArchitectureFromName(out.architecture);
  if (!arch.has_value()) {
    return Bad(absl::StrCat("unsupported architecture \"", out.architecture,
                            "\" (Djinn serves LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM and "
                            "Qwen3ForCausalLM)"));
  }
  out.arch = *arch;
  if (absl::Status s = CheckKeys(config, out.arch); !s.ok()) return s;
  if (const json* type = Present(config, "model_type"); type != nullptr && *type != ModelTypeName(out.arch)) {
    return Bad(absl::StrCat("\"model_type\" ", type->dump(), " does not match ", out.architecture, " (\"",
                            std::string(ModelTypeName(out.arch)), "\")"));
  }

  for (auto [key, field] : {std::pair{"hidden_size", &out.hidden_size},
                            std::pair{"intermediate_size", &out.intermediate_size},
                            std::pair{"num_hidden_layers", &out.num_hidden_layers},
                            std::pair{"num_attention_heads", &out.num_attention_heads},
                            std::pair{"vocab_size", &out.vocab_size},
                            std::pair{"max_position_embeddings", &out.max_position_embeddings}}) {
    if (absl::Status s = ReadPositiveInt(config, key, /*required=*/true, field); !s.ok()) return s;
  }
  // HF's defaults differ per class where these are absent (Mistral 8 KV
  // heads, Qwen 32, Qwen3 head_dim 128); real configs give them, so Djinn
  // asks for them rather than copy each class's default.
  const bool llama_like = out.arch == Architecture::kLlama;
  out.num_key_value_heads = out.num_attention_heads;
  if (absl::Status s = ReadPositiveInt(config, "num_key_value_heads", !llama_like, &out.num_key_value_heads);
      !s.ok()) {
    return s;
  }
  const bool head_dim_given = Present(config, "head_dim") != nullptr;
  if (out.hidden_size % out.num_attention_heads != 0 && !head_dim_given) {
    return Bad("hidden_size is not a multiple of num_attention_heads and no head_dim is given");
  }
  out.head_dim = out.hidden_size / out.num_attention_heads;
  if (absl::Status s = ReadPositiveInt(config, "head_dim", out.arch == Architecture::kQwen3, &out.head_dim); !s.ok()) {
    return s;
  }
  if (out.head_dim % 2 != 0) return Bad("head_dim must be even for rotary embeddings");
  if (out.num_attention_heads % out.num_key_value_heads != 0) {
    return Bad("num_attention_heads must be a multiple of num_key_value_heads");
  }
  if (absl::Status s = ReadNumber(config, "rms_norm_eps", "rms_norm_eps", &out.rms_norm_eps); !s.ok()) return s;
  if (!(out.rms_norm_eps > 0)) return Bad("rms_norm_eps must be positive");
  if (absl::Status s = ParseRopeLayouts(config, &out); !s.ok()) return s;
  if (absl::Status s = ReadBool(config, "tie_word_embeddings", &out.tie_word_embeddings); !s.ok()) return s;
  if (const json* act = Present(config, "hidden_act"); act != nullptr && *act != "silu") {
    return Bad(absl::StrCat("unsupported hidden_act ", act->dump(), " (Djinn implements silu)"));
  }

  switch (out.arch) {
    case Architecture::kLlama: {
      bool attention_bias = false;
      if (absl::Status s = ReadBool(config, "attention_bias", &attention_bias); !s.ok()) return s;
      if (absl::Status s = ReadBool(config, "mlp_bias", &out.mlp_bias); !s.ok()) return s;
      out.qkv_bias = out.o_bias = attention_bias;
      break;
    }
    case Architecture::kMistral:
      if (absl::Status s = ReadMistralWindow(config, &out); !s.ok()) return s;
      break;
    case Architecture::kQwen2:
      out.qkv_bias = true;  // Qwen2Attention: q, k, v with biases, o without
      if (absl::Status s = CheckQwenAttention(config, out); !s.ok()) return s;
      break;
    case Architecture::kQwen3: {
      bool attention_bias = false;
      if (absl::Status s = ReadBool(config, "attention_bias", &attention_bias); !s.ok()) return s;
      out.qkv_bias = out.o_bias = attention_bias;
      out.qk_norm = true;
      if (absl::Status s = CheckQwenAttention(config, out); !s.ok()) return s;
      break;
    }
  }

  out.bos_token_id = llama_like || out.arch == Architecture::kMistral ? 1 : -1;  // the classes' defaults
  if (auto it = config.find("bos_token_id"); it != config.end()) {
    if (it->is_null()) {
      out.bos_token_id = -1;
    } else if (it->is_number_integer()) {
      out.bos_token_id = it->get<int64_t>();
    } else {
      return Bad("\"bos_token_id\" must be an integer or null");
    }
  }
  if (const json* eos = Present(config, "eos_token_id"); eos != nullptr) {
    if (eos->is_number_integer()) {
      out.eos_token_ids.push_back(eos->get<int64_t>());
    } else if (eos->is_array()) {
      for (const json& id : *eos) {
        if (!id.is_number_integer()) return Bad("\"eos_token_id\" must be an integer or a list of integers");
        out.eos_token_ids.push_back(id.get<int64_t>());
      }
    } else {
      return Bad("\"eos_token_id\" must be an integer or a list of integers");
    }
  }
  // 5.x writes dtype, 4.x torch_dtype; 5.x keeps dtype when both are given.
  for (const char* key : {"torch_dtype", "dtype"}) {
    if (const json* dtype = Present(config, key); dtype != nullptr) {
      if (!dtype->is_string()) return Bad(absl::StrCat("\"", key, "\" must be a string"));
      out.torch_dtype = dtype->get<std::string>();
    }
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

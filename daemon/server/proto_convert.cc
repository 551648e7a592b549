#include "daemon/server/proto_convert.h"

namespace djinn {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

v1::DType ToProto(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return v1::DTYPE_FLOAT32;
    case DType::kFloat16: return v1::DTYPE_FLOAT16;
    case DType::kBFloat16: return v1::DTYPE_BFLOAT16;
    case DType::kInt32: break;  // never a model's dtype
  }
  return v1::DTYPE_UNSPECIFIED;
}

v1::ModelState ToProto(ModelState state) {
  switch (state) {
    case ModelState::kLoading: return v1::MODEL_STATE_LOADING;
    case ModelState::kReady: return v1::MODEL_STATE_READY;
    case ModelState::kUnloading: return v1::MODEL_STATE_UNLOADING;
  }
  return v1::MODEL_STATE_UNSPECIFIED;
}

v1::FinishReason ToProto(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone: return v1::FINISH_REASON_UNSPECIFIED;
    case FinishReason::kLength: return v1::FINISH_REASON_LENGTH;
    case FinishReason::kStop: return v1::FINISH_REASON_STOP;
    case FinishReason::kCancelled: return v1::FINISH_REASON_CANCELLED;
  }
  return v1::FINISH_REASON_UNSPECIFIED;
}

v1::LoadModelProgress::Phase ToProto(LoadPhase phase) {
  switch (phase) {
    case LoadPhase::kReadingConfig: return v1::LoadModelProgress::PHASE_READING_CONFIG;
    case LoadPhase::kPlanning: return v1::LoadModelProgress::PHASE_PLANNING;
    case LoadPhase::kLoadingWeights: return v1::LoadModelProgress::PHASE_LOADING_WEIGHTS;
    case LoadPhase::kAllocatingKvCache: return v1::LoadModelProgress::PHASE_ALLOCATING_KV_CACHE;
    case LoadPhase::kReady: return v1::LoadModelProgress::PHASE_READY;
  }
  return v1::LoadModelProgress::PHASE_UNSPECIFIED;
}

v1::ModelDescription ToProto(const ModelInfo& info) {
  v1::ModelDescription out;
  out.set_name(info.name);
  out.set_path(info.path);
  out.set_state(ToProto(info.state));
  if (info.state == ModelState::kLoading) return out;
  const ModelConfig& c = info.config;
  out.set_architecture(c.architecture);
  out.set_parameters(c.ParameterCount());
  out.set_dtype(ToProto(info.stored_dtype));
  out.set_compute_dtype(ToProto(info.compute_dtype));
  out.set_weight_bytes(info.weight_bytes);
  out.set_context_length(static_cast<uint32_t>(info.context_length));
  out.set_vocab_size(static_cast<uint32_t>(c.vocab_size));
  out.set_num_layers(static_cast<uint32_t>(c.num_hidden_layers));
  out.set_hidden_size(static_cast<uint32_t>(c.hidden_size));
  out.set_num_attention_heads(static_cast<uint32_t>(c.num_attention_heads));
  out.set_num_key_value_heads(static_cast<uint32_t>(c.num_key_value_heads));
  out.set_max_sequences(static_cast<uint32_t>(info.max_sequences));
  return out;
}

void ToProto(const GenerationEvent& event, v1::GenerateResponse* response) {
  for (int32_t id : event.token_ids) response->add_token_ids(static_cast<uint32_t>(id));
  for (const GeneratedLogprobs& generated : event.logprobs) {
    v1::GeneratedTokenLogprobs* out = response->add_logprobs();
    out->set_token_id(static_cast<uint32_t>(generated.chosen.id));
    out->set_logprob(generated.chosen.logprob);
    for (const TokenLogprob& alternative : generated.top) {
      v1::TokenLogprob* top = out->add_top_logprobs();
      top->set_token_id(static_cast<uint32_t>(alternative.id));
      top->set_logprob(alternative.logprob);
    }
  }
  response->set_text(event.text);
  if (event.finish == FinishReason::kNone) return;
  response->set_finish_reason(ToProto(event.finish));
  v1::Usage* usage = response->mutable_usage();
  usage->set_prompt_tokens(event.usage.prompt_tokens);
  usage->set_completion_tokens(event.usage.completion_tokens);
  usage->set_queue_seconds(event.usage.queue_seconds);
  usage->set_time_to_first_token_seconds(event.usage.time_to_first_token_seconds);
  usage->set_total_seconds(event.usage.total_seconds);
  usage->set_seed(event.usage.seed);
}

GenerationRequest FromProto(const v1::GenerateRequest& request) {
  GenerationRequest out;
  if (request.prompt_case() == v1::GenerateRequest::kText) {
    out.prompt_text = request.text();
  } else if (request.prompt_case() == v1::GenerateRequest::kChat) {
    std::vector<ChatMessage>& messages = out.chat_messages.emplace();
    for (const v1::ChatMessage& m : request.chat().messages()) messages.push_back({m.role(), m.content()});
  } else {
    out.prompt_ids.assign(request.token_ids().ids().begin(), request.token_ids().ids().end());
  }
  out.max_tokens = request.max_tokens();
  out.temperature = request.temperature();
  out.top_k = static_cast<int>(request.top_k());
  out.top_p = request.top_p() > 0 ? request.top_p() : 1.0f;
  if (request.has_seed()) out.seed = request.seed();
  out.stop.assign(request.stop().begin(), request.stop().end());
  out.stop_token_ids.assign(request.stop_token_ids().begin(), request.stop_token_ids().end());
  out.ignore_eos = request.ignore_eos();
  out.priority = request.priority();
  out.logprobs = request.logprobs();
  out.top_logprobs = request.top_logprobs();
  return out;
}

}  // namespace djinn

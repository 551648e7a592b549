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

v1::StatsResponse ToProto(const CoreSnapshot& snapshot) {
  v1::StatsResponse out;
  out.set_version(snapshot.version);
  out.set_uptime_seconds(absl::ToDoubleSeconds(snapshot.uptime));
  out.mutable_device()->set_kind(snapshot.device.kind);
  out.mutable_device()->set_name(snapshot.device.name);
  out.mutable_device()->set_total_memory_bytes(snapshot.device.total_memory_bytes);

  const ArenaUsage& usage = snapshot.memory;
  v1::MemorySplit* memory = out.mutable_memory();
  memory->set_budget_bytes(usage.capacity);
  memory->set_resident_weight_bytes(usage.by_category[static_cast<int>(MemoryCategory::kWeights)]);
  memory->set_ring_buffer_bytes(usage.by_category[static_cast<int>(MemoryCategory::kRingBuffer)]);
  memory->set_kv_cache_bytes(usage.by_category[static_cast<int>(MemoryCategory::kKvCache)]);
  memory->set_workspace_bytes(usage.by_category[static_cast<int>(MemoryCategory::kWorkspace)]);
  memory->set_free_bytes(usage.free());

  for (const ModelInfo& info : snapshot.models) {
    v1::ModelStats* model = out.add_models();
    model->set_name(info.name);
    model->set_state(ToProto(info.state));
    model->set_weight_bytes(info.weight_bytes);
    // Now, not as loaded: layers move between models.
    const ResidencySnapshot& now = info.residency;
    model->set_resident_bytes(info.fixed_weight_bytes() + now.resident_layer_bytes);
    model->set_streamed_bytes(now.streamed_bytes);
    model->set_resident_layers(static_cast<uint32_t>(now.resident_layers));
    model->set_streamed_layers(static_cast<uint32_t>(now.streamed_layers));
    for (const std::string& line : info.plan.explanation) model->add_plan(line);
    model->set_ring_buffer_bytes(now.ring_bytes);
    model->set_ring_buffer_slots(static_cast<uint32_t>(now.ring_slots));
    model->set_streamed_bytes_per_pass(now.streamed_bytes);
    for (int64_t l = 0; l < now.resident_layers + now.streamed_layers; ++l) {
      v1::LayerResidency* layer = model->add_layers();
      layer->set_layer(static_cast<uint32_t>(l));
      layer->set_bytes(now.layer_bytes);
      layer->set_resident(l < now.resident_layers);
      layer->set_ring_slot(layer->resident() ? -1 : static_cast<int32_t>((l - now.resident_layers) % now.ring_slots));
    }
    model->set_residency_promotions(now.counters.promotions);
    model->set_residency_promoted_bytes(now.counters.promoted_bytes);
    model->set_residency_evictions(now.counters.evictions);
    model->set_host_copy_bytes(now.host_copy_bytes);
    model->set_ring_compute_stalls(info.ring.compute_stalls);
    model->set_ring_compute_stall_seconds(info.ring.compute_stall_seconds);
    model->set_ring_copy_stalls(info.ring.copy_stalls);
    model->set_ring_copy_stall_seconds(info.ring.copy_stall_seconds);
    model->set_h2d_bytes_total(info.ring.bytes_copied);
    model->set_h2d_gb_per_second(info.ring.copy_seconds > 0 ? info.ring.timed_bytes / info.ring.copy_seconds / 1e9 : 0);
    model->set_kv_sequences_total(static_cast<uint32_t>(info.max_sequences));
    model->set_kv_sequences_active(static_cast<uint32_t>(info.counters.active));
    model->set_kv_cache_bytes(info.kv_cache_bytes);
    model->set_kv_cache_used_bytes(info.kv_used_bytes);
    model->set_requests_total(info.counters.requests_total);
    model->set_generated_tokens_total(info.counters.generated_tokens_total);
  }

  const SnapshotTotals totals = Totals(snapshot);
  memory->set_kv_cache_used_bytes(totals.kv_used_bytes);
  memory->set_host_pinned_bytes(totals.host_copy_bytes);
  v1::RequestCounters* requests = out.mutable_requests();
  requests->set_generate_started(snapshot.requests.started);
  requests->set_generate_completed(snapshot.requests.completed);
  requests->set_generate_cancelled(snapshot.requests.cancelled);
  requests->set_generate_failed(snapshot.requests.failed);
  requests->set_generate_active(totals.active);
  requests->set_generate_queued(totals.queued);
  requests->set_prompt_tokens_total(totals.prompt_tokens);
  requests->set_generated_tokens_total(totals.generated_tokens);
  v1::RingBufferStats* ring = out.mutable_ring_buffer();
  ring->set_capacity_bytes(totals.ring_capacity_bytes);
  ring->set_used_bytes(totals.ring_capacity_bytes);  // every pass fills every slot
  ring->set_slots(totals.ring_slots);
  ring->set_compute_stalls(totals.ring.compute_stalls);
  ring->set_compute_stall_seconds(totals.ring.compute_stall_seconds);
  ring->set_copy_stalls(totals.ring.copy_stalls);
  ring->set_copy_stall_seconds(totals.ring.copy_stall_seconds);
  out.mutable_pcie()->set_h2d_bytes_total(totals.ring.bytes_copied);
  out.mutable_pcie()->set_h2d_seconds_total(totals.ring.pass_seconds);
  out.mutable_pcie()->set_h2d_copy_seconds_total(totals.ring.copy_seconds);
  const double copy_seconds = totals.ring.copy_seconds;
  out.mutable_pcie()->set_achieved_gb_per_second(copy_seconds > 0 ? totals.ring.timed_bytes / copy_seconds / 1e9 : 0);
  return out;
}

}  // namespace djinn

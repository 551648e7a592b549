// Djinn against transformers on models that transformers wrote itself
// (tests/hf/hf_models.py): reading a reference (NAME.json and its float32
// logits), running a model on a backend with every layer resident or with
// some streamed, comparing, and the bounds. One implementation for the CPU
// test over the CI fixtures (tests/unit/hf_models_test.cc) and the GPU check
// (tests/gpu/hf_models_test.cc), so both hold Djinn to the same rules.
// Header-only: test sources include it, no library links it.
//
// Logit error over every prompt position and the whole vocabulary:
//   rel = ‖djinn − ref‖ / ‖ref‖ (Frobenius),  max = max|djinn − ref| / max|ref|
// The reference is transformers' float64 run of the checkpoint upcast
// exactly (a bf16 checkpoint's weights are bf16 values; both engines compute
// with exactly those values).
// Bounds, by the dtype Djinn computes in:
//   float32 (every CPU run; fp32 checkpoints on the GPU): both ≤ 1e-4, and
//     every one of the 64 greedy tokens equal. A bf16 checkpoint on the CPU
//     is computed in float32 from its bf16 weights exactly upcast, the same
//     computation as the reference's up to float32 rounding, so it is held
//     to the float32 bound too.
//   bf16/fp16 (the GPU): the scheme of tests/gpu/model_reference_test.cc:
//     ≤ max(floor, 2 × transformers' own error in that dtype), floor 2e-2
//     (bf16) or 5e-3 (fp16); greedy equal for the first min(16, first step
//     whose reference top-2 gap is under 4 × Djinn's max abs logit error).
#ifndef DJINN_TESTS_HF_HF_MODEL_CHECK_H_
#define DJINN_TESTS_HF_HF_MODEL_CHECK_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/safetensors.h"
#include "daemon/backend/backend.h"
#include "daemon/engine/generation.h"
#include "daemon/engine/model_loader.h"
#include "daemon/engine/model_runner.h"
#include "daemon/engine/residency_plan.h"
#include "daemon/memory/arena.h"
#include "nlohmann/json.hpp"

namespace djinn::hf_check {

namespace fs = std::filesystem;

inline constexpr double kFloat32Bound = 1e-4;
inline constexpr double kFloat16Floor = 5e-3;
inline constexpr double kBFloat16Floor = 2e-2;
inline constexpr double kHfErrorFactor = 2.0;
inline constexpr size_t kMinHalfGreedy = 16;
inline constexpr double kGreedyGuardFactor = 4.0;

// ------------------------------------------------------------------ reading

struct Reference {
  fs::path json_path;
  nlohmann::json json;
  std::string name;
  fs::path model_dir;  // absolute, or resolved against the JSON's folder
  std::vector<int32_t> prompt;
  size_t vocab = 0;
  DType stored = DType::kFloat32;
  int64_t max_position_embeddings = 0;
  std::vector<float> logits;  // [prompt.size() × vocab], row-major
  std::vector<int32_t> greedy;
  std::vector<double> gaps;  // the reference's top-2 gap at each greedy step
  // transformers in the checkpoint's half dtype, against the reference (GPU references only).
  std::optional<std::pair<std::string, std::pair<double, double>>> hf_half;  // dtype, (rel, max)
  std::vector<int32_t> hf_half_greedy;  // its own greedy tokens (generate(), KV cache)
};

inline absl::StatusOr<DType> ParseDType(const std::string& name) {
  if (name == "float32") return DType::kFloat32;
  if (name == "bfloat16") return DType::kBFloat16;
  if (name == "float16") return DType::kFloat16;
  return absl::InvalidArgumentError(absl::StrCat("unknown dtype '", name, "'"));
}

// A little-endian float32 file of exactly `count` values.
inline absl::StatusOr<std::vector<float>> ReadFloats(const fs::path& path, size_t count) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path.string()));
  std::vector<float> out(count);
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(count * sizeof(float)));
  if (static_cast<size_t>(in.gcount()) != count * sizeof(float) || in.peek() != EOF) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": expected exactly ", count, " float32 values"));
  }
  return out;
}

inline absl::StatusOr<Reference> ReadReference(const fs::path& json_path) {
  Reference r;
  r.json_path = json_path;
  std::ifstream in(json_path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", json_path.string()));
  try {
    r.json = nlohmann::json::parse(in);
    r.name = r.json.at("name").get<std::string>();
    r.model_dir = json_path.parent_path() / r.json.at("model_dir").get<std::string>();
    r.prompt = r.json.at("prompt_ids").get<std::vector<int32_t>>();
    r.vocab = r.json.at("vocab_size").get<size_t>();
    absl::StatusOr<DType> stored = ParseDType(r.json.at("dtype").get<std::string>());
    if (!stored.ok()) return stored.status();
    r.stored = *stored;
    r.max_position_embeddings = r.json.at("config").at("max_position_embeddings").get<int64_t>();
    const auto& reference = r.json.at("reference");
    r.greedy = reference.at("greedy_ids").get<std::vector<int32_t>>();
    r.gaps = reference.at("greedy_top2_gaps").get<std::vector<double>>();
    if (r.gaps.size() != r.greedy.size()) return absl::InvalidArgumentError("greedy_ids and gaps differ in length");
    absl::StatusOr<std::vector<float>> logits =
        ReadFloats(json_path.parent_path() / reference.at("logits_file").get<std::string>(), r.prompt.size() * r.vocab);
    if (!logits.ok()) return logits.status();
    r.logits = *std::move(logits);
    for (const auto& hf : r.json.value("hf", nlohmann::json::array())) {
      r.hf_half = {hf.at("dtype").get<std::string>(),
                   {hf.at("rel_error_vs_reference").get<double>(), hf.at("max_rel_error_vs_reference").get<double>()}};
      r.hf_half_greedy = hf.value("greedy_ids", std::vector<int32_t>{});
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(json_path.string(), ": ", e.what()));
  }
  return r;
}

// The reference JSON files in `dir` (NAME.json with a "reference" key), sorted.
inline std::vector<fs::path> ReferenceFiles(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code error;
  if (dir.empty() || !fs::is_directory(dir, error)) return out;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("reference")) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ------------------------------------------------------------------ comparing

struct LogitError {
  double rel_fro = 0;  // ‖a − ref‖ / ‖ref‖
  double max_rel = 0;  // max|a − ref| / max|ref|
  double max_abs = 0;  // max|a − ref|
  size_t argmax_agree = 0;
  bool finite = true;
};

inline LogitError Compare(const std::vector<float>& actual, const std::vector<float>& reference, size_t positions,
                          size_t vocab) {
  LogitError e;
  if (actual.size() != positions * vocab || reference.size() != positions * vocab) {
    e.finite = false;
  } else {
    double diff2 = 0, ref2 = 0, max_ref = 0;
    for (size_t t = 0; t < positions; ++t) {
      size_t best_a = 0, best_r = 0;
      for (size_t v = 0; v < vocab; ++v) {
        const size_t i = t * vocab + v;
        const double a = actual[i], r = reference[i];
        if (!std::isfinite(a)) e.finite = false;
        const double d = a - r;
        diff2 += d * d;
        ref2 += r * r;
        e.max_abs = std::max(e.max_abs, std::abs(d));
        max_ref = std::max(max_ref, std::abs(r));
        if (actual[i] > actual[t * vocab + best_a]) best_a = v;
        if (reference[i] > reference[t * vocab + best_r]) best_r = v;
      }
      if (best_a == best_r) ++e.argmax_agree;
    }
    e.rel_fro = std::sqrt(diff2) / std::sqrt(ref2);
    e.max_rel = e.max_abs / max_ref;
  }
  if (!e.finite) e.rel_fro = e.max_rel = e.max_abs = std::numeric_limits<double>::infinity();
  return e;
}

inline size_t LeadingAgreement(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

struct Bounds {
  double rel = 0, max = 0;
  size_t greedy_required = 0;  // leading greedy tokens that must equal the reference's
};

// The bounds for a run computed in `compute` whose max abs logit error was
// `max_abs` (which sets how many greedy tokens are out of rounding's reach).
inline Bounds BoundsFor(const Reference& ref, DType compute, double max_abs) {
  Bounds b;
  if (compute == DType::kFloat32) {
    b.rel = b.max = kFloat32Bound;
    b.greedy_required = ref.greedy.size();
    return b;
  }
  const double floor = compute == DType::kFloat16 ? kFloat16Floor : kBFloat16Floor;
  b.rel = b.max = floor;
  if (ref.hf_half && ref.hf_half->first == DTypeName(compute)) {
    b.rel = std::max(floor, kHfErrorFactor * ref.hf_half->second.first);
    b.max = std::max(floor, kHfErrorFactor * ref.hf_half->second.second);
  }
  const double guard = kGreedyGuardFactor * max_abs;
  size_t clear = 0;
  while (clear < ref.gaps.size() && ref.gaps[clear] >= guard) ++clear;
  b.greedy_required = std::min({kMinHalfGreedy, clear, ref.greedy.size()});
  return b;
}

// ------------------------------------------------------------------ running

struct Run {
  absl::Status status;  // the first thing that failed, if anything
  ResidencyPlan plan;
  DType compute = DType::kFloat32;
  std::vector<float> logits;
  std::vector<int32_t> greedy;
  FinishReason finish = FinishReason::kNone;
  double load_s = 0, score_s = 0, generate_s = 0;
};

// A context long enough for the prompt and the greedy tokens; one sequence.
inline LoadSettings SettingsFor(const Reference& ref) {
  LoadSettings settings;
  const int64_t needed = static_cast<int64_t>(ref.prompt.size() + ref.greedy.size()) + 8;
  settings.max_context_length = std::min<int64_t>((needed + 63) / 64 * 64, ref.max_position_embeddings);
  settings.max_sequences = 1;
  return settings;
}

// An arena that holds every weight in the compute dtype, plus `slack` for
// the KV cache and the workspace.
inline uint64_t ResidentArenaBytes(const fs::path& model_dir, DType stored, DType compute, uint64_t slack) {
  uint64_t file_bytes = 0;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(model_dir, error)) {
    if (entry.path().extension() == ".safetensors") file_bytes += entry.file_size(error);
  }
  const uint64_t weights = file_bytes / DTypeSize(stored) * DTypeSize(compute);
  return weights + weights / 4 + slack;
}

// Loads `model_dir` into a fresh arena of `arena_bytes` on `backend`, scores
// the prompt and generates greedily (ignore_eos) as many tokens as the
// reference has; gives everything back before returning.
inline Run RunModel(Backend& backend, uint64_t arena_bytes, const fs::path& model_dir, const LoadSettings& settings,
                    const Reference& ref) {
  Run run;
  absl::StatusOr<std::byte*> base = backend.ReserveArena(arena_bytes);
  if (!base.ok()) {
    run.status = base.status();
    return run;
  }
  {
    Arena arena(*base, arena_bytes);
    absl::Time t0 = absl::Now();
    absl::StatusOr<std::unique_ptr<LoadedWeights>> loaded = LoadModel(model_dir.string(), settings, &backend, &arena);
    run.load_s = absl::ToDoubleSeconds(absl::Now() - t0);
    if (!loaded.ok()) {
      run.status = loaded.status();
    } else {
      run.plan = (*loaded)->plan;
      run.compute = backend.ComputeDType((*loaded)->stored_dtype);
      if ((*loaded)->stored_dtype != ref.stored) {
        run.status = absl::InternalError(absl::StrCat("loaded as ", DTypeName((*loaded)->stored_dtype),
                                                      ", the reference says ", DTypeName(ref.stored)));
      }
      auto runner = std::make_unique<ModelRunner>(*std::move(loaded));
      t0 = absl::Now();
      absl::StatusOr<std::vector<float>> logits = runner->ScoreTokens(ref.prompt);
      run.score_s = absl::ToDoubleSeconds(absl::Now() - t0);
      if (!logits.ok()) {
        run.status.Update(logits.status());
      } else {
        run.logits = *std::move(logits);
      }
      GenerationRequest request;
      request.prompt_ids = ref.prompt;
      request.max_tokens = static_cast<uint32_t>(ref.greedy.size());
      request.temperature = 0;
      request.ignore_eos = true;
      t0 = absl::Now();
      absl::StatusOr<std::shared_ptr<GenerationStream>> stream = runner->Submit(request);
      if (!stream.ok()) {
        run.status.Update(stream.status());
      } else {
        GenerationEvent event;
        while (true) {
          if (!(*stream)->Next(&event, absl::Seconds(300))) {
            run.status.Update(absl::DeadlineExceededError("no generation event in 300 s"));
            break;
          }
          if (!event.error.ok()) {
            run.status.Update(event.error);
            break;
          }
          run.greedy.insert(run.greedy.end(), event.token_ids.begin(), event.token_ids.end());
          if (event.finish != FinishReason::kNone) {
            run.finish = event.finish;
            break;
          }
        }
      }
      run.generate_s = absl::ToDoubleSeconds(absl::Now() - t0);
    }
  }
  backend.ReleaseArena(*base, arena_bytes);
  return run;
}

}  // namespace djinn::hf_check

#endif  // DJINN_TESTS_HF_HF_MODEL_CHECK_H_

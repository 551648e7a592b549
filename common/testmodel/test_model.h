// Writes small (or large, for benchmarks) random-weight Llama models in the
// HuggingFace layout: config.json, *.safetensors (+ index when sharded),
// tokenizer.model. Deterministic: the same preset, seed and dtype give
// byte-identical files on every machine.
#ifndef DJINN_COMMON_TESTMODEL_TEST_MODEL_H_
#define DJINN_COMMON_TESTMODEL_TEST_MODEL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace djinn::testmodel {

struct TestModelOptions {
  std::string preset = "tiny";  // see PresetNames()
  std::string out_dir;          // created if missing; existing files replaced
  uint64_t seed = 0;
  std::string dtype;            // "float32" | "float16" | "bfloat16"; empty = preset default
  // Called now and then with (bytes written, bytes total) for progress output.
  std::function<void(uint64_t, uint64_t)> on_progress;
};

// Names accepted as TestModelOptions::preset, e.g. {"tiny", "tiny-gqa", ...}.
std::vector<std::string> PresetNames();

// Writes the model. INVALID_ARGUMENT for an unknown preset or dtype.
absl::Status WriteTestModel(const TestModelOptions& options);

}  // namespace djinn::testmodel

#endif  // DJINN_COMMON_TESTMODEL_TEST_MODEL_H_

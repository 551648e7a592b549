// Text views of models: the one-line summary `djinnctl load` prints and the
// table `djinnctl list` prints.
#ifndef DJINN_CLIENT_CPP_CLI_MODEL_VIEW_H_
#define DJINN_CLIENT_CPP_CLI_MODEL_VIEW_H_

#include <string>

#include "djinn/v1/djinn.pb.h"

namespace djinn::client::cli {

// "tiny: LlamaForCausalLM, 4.2M params, float16 (computed as float32),
//  8.1 MiB weights, context 2048, 8 sequences" (one line, no newline).
std::string DescribeModel(const v1::ModelDescription& model);

// NAME STATE ARCH PARAMS DTYPE WEIGHTS CONTEXT, one row per model; the header
// alone when there are none.
std::string RenderModelTable(const v1::ListModelsResponse& models);

}  // namespace djinn::client::cli

#endif  // DJINN_CLIENT_CPP_CLI_MODEL_VIEW_H_

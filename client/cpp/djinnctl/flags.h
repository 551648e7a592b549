// djinnctl's flags, all registered with absl::flags. Which command accepts
// which flag is listed in main.cc's command table; a flag given to a command
// that does not take it is a usage error.
#ifndef DJINN_CLIENT_CPP_DJINNCTL_FLAGS_H_
#define DJINN_CLIENT_CPP_DJINNCTL_FLAGS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/flags/declare.h"

// Every command.
ABSL_DECLARE_FLAG(std::string, addr);
ABSL_DECLARE_FLAG(double, timeout);
ABSL_DECLARE_FLAG(bool, wait);

// load
ABSL_DECLARE_FLAG(uint32_t, max_context);
ABSL_DECLARE_FLAG(uint32_t, max_sequences);

// generate
ABSL_DECLARE_FLAG(uint32_t, max_tokens);
ABSL_DECLARE_FLAG(float, temperature);
ABSL_DECLARE_FLAG(uint32_t, top_k);
ABSL_DECLARE_FLAG(float, top_p);
ABSL_DECLARE_FLAG(std::optional<uint64_t>, seed);  // also make-test-model
ABSL_DECLARE_FLAG(std::string, stop);  // repeatable: read every occurrence
ABSL_DECLARE_FLAG(std::string, stop_token_ids);
ABSL_DECLARE_FLAG(bool, ignore_eos);
ABSL_DECLARE_FLAG(int32_t, priority);
ABSL_DECLARE_FLAG(std::string, token_ids);
ABSL_DECLARE_FLAG(bool, chat);
ABSL_DECLARE_FLAG(std::optional<std::string>, system);
ABSL_DECLARE_FLAG(std::optional<uint32_t>, logprobs);

// list, stats
ABSL_DECLARE_FLAG(bool, json);

// health
ABSL_DECLARE_FLAG(std::string, service);

// make-test-model
ABSL_DECLARE_FLAG(std::string, preset);
ABSL_DECLARE_FLAG(std::string, out);
ABSL_DECLARE_FLAG(std::string, dtype);

#endif  // DJINN_CLIENT_CPP_DJINNCTL_FLAGS_H_

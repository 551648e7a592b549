#include "client/cpp/djinnctl/flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, addr, "",
          "daemon address: HOST:PORT, [::1]:PORT, unix:PATH or dns:///HOST:PORT "
          "(round-robin over every address). Default: $DJINN_ADDR, else localhost:50051");
ABSL_FLAG(double, timeout, 0, "deadline of each call in seconds; 0: none");
ABSL_FLAG(bool, wait, false,
          "wait for the daemon to come up (bounded by --timeout) instead of "
          "failing at once with UNAVAILABLE");

ABSL_FLAG(uint32_t, max_context, 0,
          "longest prompt + completion served; 0: the model's max_position_embeddings");
ABSL_FLAG(uint32_t, max_sequences, 0,
          "sequences holding a KV cache at once; 0: the daemon's default");

ABSL_FLAG(uint32_t, max_tokens, 0, "new tokens at most; 0: the daemon's default (128)");
ABSL_FLAG(float, temperature, 0, "0: greedy decoding; > 0: sample at this temperature");
ABSL_FLAG(uint32_t, top_k, 0, "sample among the K most likely tokens; 0: off");
ABSL_FLAG(float, top_p, 0, "nucleus sampling threshold; 0 or 1: off");
ABSL_FLAG(std::optional<uint64_t>, seed, std::nullopt,
          "generate: sampling seed (unset: random, reported after the text); "
          "make-test-model: weight seed (default 0)");
ABSL_FLAG(std::string, stop, "",
          "stop before this string; repeat the flag for several. Each value is "
          "taken whole, commas included");
ABSL_FLAG(std::string, stop_token_ids, "", "comma-separated token ids that end generation");
ABSL_FLAG(bool, ignore_eos, false, "keep generating past the model's EOS token");
ABSL_FLAG(int32_t, priority, 0,
          "among requests waiting for KV-cache pages, higher goes first (waiting adds one per second)");
ABSL_FLAG(std::string, token_ids, "",
          "comma-separated prompt token ids, used as given (no BOS added); "
          "replaces PROMPT, which must then be left out");

ABSL_FLAG(bool, chat, false,
          "send PROMPT as a chat: one user message, rendered by the model's chat template "
          "(add_generation_prompt) instead of tokenized as plain text");
ABSL_FLAG(std::optional<std::string>, system, std::nullopt,
          "with --chat: a system message before the user's");

ABSL_FLAG(std::optional<uint32_t>, logprobs, std::nullopt,
          "print each generated token's log-probability and its N most likely alternatives "
          "(0-20; token ids, raw distribution) to stderr after the text");

ABSL_FLAG(bool, json, false,
          "print the response as JSON (proto3 JSON mapping, every field present)");

ABSL_FLAG(std::string, service, "", "service to check; empty: the server as a whole");

ABSL_FLAG(std::string, preset, "tiny", "model preset");
ABSL_FLAG(std::string, out, "", "directory to write the model to (created if missing)");
ABSL_FLAG(std::string, dtype, "",
          "float32, float16 or bfloat16; empty: the preset's default");

// Prompts for the tiny test models that need no tokenizer.
#ifndef DJINN_TESTS_UNIT_SUPPORT_PSEUDO_RANDOM_PROMPT_H_
#define DJINN_TESTS_UNIT_SUPPORT_PSEUDO_RANDOM_PROMPT_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace djinn::testing {

// BOS, then deterministic pseudo-random ids in [3, 512): inside the tiny
// models' vocabulary, never EOS (2), so a generation is never cut short by
// its prompt. The same `length` and `seed` give the same prompt.
inline std::vector<int32_t> PseudoRandomPrompt(size_t length, uint32_t seed) {
  std::vector<int32_t> ids = {1};
  uint64_t state = seed;
  while (ids.size() < length) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    ids.push_back(3 + static_cast<int32_t>((state >> 33) % 509));
  }
  return ids;
}

}  // namespace djinn::testing

#endif  // DJINN_TESTS_UNIT_SUPPORT_PSEUDO_RANDOM_PROMPT_H_

// Test bytes where every byte differs from its neighbours (a linear
// congruential sequence), so that a byte copied to the wrong place shows.
#ifndef DJINN_TESTS_UNIT_SUPPORT_BYTE_PATTERN_H_
#define DJINN_TESTS_UNIT_SUPPORT_BYTE_PATTERN_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace djinn::testing {

inline std::string BytePattern(size_t count, uint32_t seed) {
  std::string bytes(count, '\0');
  uint32_t state = seed;
  for (char& b : bytes) {
    state = state * 1664525u + 1013904223u;
    b = static_cast<char>(state >> 24);
  }
  return bytes;
}

}  // namespace djinn::testing

#endif  // DJINN_TESTS_UNIT_SUPPORT_BYTE_PATTERN_H_

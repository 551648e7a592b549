// Deterministic pseudo-random weights: a value depends only on (seed, tensor
// name, element index), never on thread count, chunking or write order, and
// is computed with integer ops and correctly rounded IEEE arithmetic only, so
// every machine produces the same bits.
#ifndef DJINN_COMMON_TESTMODEL_RANDOM_WEIGHTS_H_
#define DJINN_COMMON_TESTMODEL_RANDOM_WEIGHTS_H_

#include <cstdint>
#include <string_view>

#include "common/testmodel/tensor_dtype.h"

namespace djinn::testmodel {

// value = mean + stddev * z, with z ~ approximately N(0, 1).
struct WeightInit {
  double mean = 0.0;
  double stddev = 1.0;
};

// Key of one tensor's random stream: mixes the seed and the tensor name.
uint64_t TensorStreamKey(uint64_t seed, std::string_view tensor_name);

// The index-th standard normal draw of the stream `key`: an Irwin-Hall sum of
// four 32-bit uniforms, centred and scaled to unit variance (bounded by
// +-2*sqrt(3), which is plenty for weights). No libm transcendental functions:
// their results differ between libc versions.
double StandardNormalAt(uint64_t key, uint64_t index);

// The float32 weight at `index` (rounded once, from double).
float WeightAt(uint64_t key, const WeightInit& init, uint64_t index);

// Writes elements [first, first + count) of the tensor, converted to `dtype`
// with round-to-nearest-even, little-endian, into `out`
// (count * DTypeSize(dtype) bytes). Thread-safe; a pure function.
void FillWeights(uint64_t key, const WeightInit& init, TensorDType dtype, uint64_t first,
                 uint64_t count, uint8_t* out);

}  // namespace djinn::testmodel

#endif  // DJINN_COMMON_TESTMODEL_RANDOM_WEIGHTS_H_

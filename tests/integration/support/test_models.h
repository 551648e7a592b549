// A model root for integration tests, holding the tiny presets written once
// per test binary by the same writer `djinnctl make-test-model` uses.
#ifndef DJINN_TESTS_INTEGRATION_SUPPORT_TEST_MODELS_H_
#define DJINN_TESTS_INTEGRATION_SUPPORT_TEST_MODELS_H_

#include <string>

namespace djinn::testing {

// A fresh directory under the system temp dir, removed at exit.
const std::string& ModelRoot();
// <root>/<preset>, written on first use with seed 1 (and `dtype`, when
// given, in the directory name: "<preset>-<dtype>").
std::string TestModel(const std::string& preset, const std::string& dtype = "");
// A copy of TestModel(preset) at <root>/<name> for tests that damage it.
std::string CopyOfTestModel(const std::string& preset, const std::string& name);

// A copy of tiny-gqa at <root>/long whose context is 16384 tokens, so that a
// generation can be made to run for seconds (to cancel it, or to shut down
// under it) without relying on timing.
std::string LongContextTestModel();

}  // namespace djinn::testing

#endif  // DJINN_TESTS_INTEGRATION_SUPPORT_TEST_MODELS_H_

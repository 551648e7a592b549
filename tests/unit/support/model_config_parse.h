// ParseModelConfig in tests: a config.json text that must parse, or must be
// refused with a message that names what is wrong.
#ifndef DJINN_TESTS_UNIT_SUPPORT_MODEL_CONFIG_PARSE_H_
#define DJINN_TESTS_UNIT_SUPPORT_MODEL_CONFIG_PARSE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/model_config.h"
#include "gtest/gtest.h"

namespace djinn::testing {

// The parsed config; a default one (and a test failure) when it is refused.
inline ModelConfig MustParse(const std::string& text) {
  absl::StatusOr<ModelConfig> config = ParseModelConfig(text);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.value_or(ModelConfig{});
}

// `text` is refused as INVALID_ARGUMENT with a message holding every word of
// `words` (the keys and values a user must be told about).
inline void ExpectInvalid(const std::string& text, const std::vector<std::string>& words) {
  absl::StatusOr<ModelConfig> config = ParseModelConfig(text);
  ASSERT_FALSE(config.ok()) << "accepted: " << text;
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << config.status();
  for (const std::string& word : words) {
    EXPECT_NE(config.status().message().find(word), std::string::npos)
        << config.status() << " does not mention \"" << word << "\"";
  }
}

}  // namespace djinn::testing

#endif  // DJINN_TESTS_UNIT_SUPPORT_MODEL_CONFIG_PARSE_H_

// Test models written into a directory of the test process's own under the
// test temp dir, removed when the process exits: test processes running in
// parallel never share one, and none is left behind.
#ifndef DJINN_TESTS_UNIT_SUPPORT_TEST_MODEL_DIR_H_
#define DJINN_TESTS_UNIT_SUPPORT_TEST_MODEL_DIR_H_

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/testmodel/test_model.h"
#include "gtest/gtest.h"

namespace djinn::testing {

// <test temp dir>/<name>_<pid>, emptied now and removed at exit. Call it once
// per name and keep the path: a second call empties the directory again.
inline std::filesystem::path ProcessTempDir(const std::string& name) {
  // A static's destructor runs at exit, like std::atexit, but can hold the paths.
  static struct RemovedAtExit {
    std::vector<std::filesystem::path> dirs;
    ~RemovedAtExit() {
      for (const std::filesystem::path& dir : dirs) std::filesystem::remove_all(dir);
    }
  } removed;
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / (name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  removed.dirs.push_back(dir);
  return dir;
}

// `preset` written into `dir` with `seed` (and the preset's dtype); a failure
// fails the test.
inline void WriteTestModelOrFail(const std::string& preset, uint64_t seed, const std::filesystem::path& dir) {
  testmodel::TestModelOptions options;
  options.preset = preset;
  options.out_dir = dir.string();
  options.seed = seed;
  const absl::Status written = testmodel::WriteTestModel(options);
  EXPECT_TRUE(written.ok()) << written;
}

}  // namespace djinn::testing

#endif  // DJINN_TESTS_UNIT_SUPPORT_TEST_MODEL_DIR_H_

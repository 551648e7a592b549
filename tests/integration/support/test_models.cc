#include "tests/integration/support/test_models.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "common/testmodel/test_model.h"

namespace djinn::testing {
namespace {

namespace fs = std::filesystem;

struct Root {
  std::string path;
  Root() {
    std::string pattern = (fs::temp_directory_path() / "djinn-it-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~Root() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::mutex mutex;

}  // namespace

const std::string& ModelRoot() {
  static Root root;
  return root.path;
}

std::string TestModel(const std::string& preset, const std::string& dtype) {
  const std::string name = dtype.empty() ? preset : preset + "-" + dtype;
  const fs::path dir = fs::path(ModelRoot()) / name;
  std::lock_guard<std::mutex> lock(mutex);
  if (!fs::exists(dir / "config.json")) {
    testmodel::TestModelOptions options;
    options.preset = preset;
    options.out_dir = dir.string();
    options.seed = 1;
    options.dtype = dtype;
    const absl::Status status = testmodel::WriteTestModel(options);
    if (!status.ok()) throw std::runtime_error("cannot write test model: " + status.ToString());
  }
  return dir.string();
}

std::string CopyOfTestModel(const std::string& preset, const std::string& name) {
  const std::string source = TestModel(preset);
  const fs::path dir = fs::path(ModelRoot()) / name;
  std::lock_guard<std::mutex> lock(mutex);
  fs::remove_all(dir);
  fs::copy(source, dir, fs::copy_options::recursive);
  return dir.string();
}

std::string LongContextTestModel() {
  const fs::path dir = fs::path(ModelRoot()) / "long";
  if (fs::exists(dir / "config.json")) return dir.string();
  CopyOfTestModel("tiny-gqa", "long");
  std::ifstream in(dir / "config.json");
  nlohmann::json config = nlohmann::json::parse(in);
  in.close();
  config["max_position_embeddings"] = 16384;
  std::ofstream(dir / "config.json") << config.dump(2);
  return dir.string();
}

}  // namespace djinn::testing

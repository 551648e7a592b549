// The streaming safetensors writer: header format, byte placement, and that
// blocking and threading do not change the output.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/testmodel/safetensors_writer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace djinn::testmodel {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Parses a file independently of the writer's own layout code.
struct Parsed {
  uint64_t header_length = 0;
  nlohmann::json header;
  std::string data;
};

Parsed Parse(const std::string& file) {
  Parsed p;
  EXPECT_GE(file.size(), 8u);
  for (int i = 0; i < 8; ++i) p.header_length |= uint64_t{static_cast<uint8_t>(file[i])} << (8 * i);
  EXPECT_LE(8 + p.header_length, file.size());
  p.header = nlohmann::json::parse(file.substr(8, p.header_length));
  p.data = file.substr(8 + p.header_length);
  return p;
}

// Element `i` of tensor `t` as float32: easy to check anywhere in the file.
float Expected(size_t t, uint64_t i) { return static_cast<float>(t * 1000000 + i); }

void Fill(const std::vector<SafetensorsEntry>& entries, size_t t, uint64_t first, uint64_t count,
          uint8_t* out) {
  for (uint64_t i = 0; i < count; ++i) {
    const float v = Expected(t, first + i);
    if (entries[t].dtype == TensorDType::kF32) {
      std::memcpy(out + 4 * i, &v, 4);
    } else {
      // Two-byte dtypes: low 16 bits of the index, enough to detect misplacement.
      const uint16_t h = static_cast<uint16_t>(t * 7919 + first + i);
      std::memcpy(out + 2 * i, &h, 2);
    }
  }
}

class SafetensorsWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("safetensors_writer_" + std::string(
                ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::vector<SafetensorsEntry>& entries,
                    const SafetensorsWriteOptions& options, const std::string& name = "t") {
    const fs::path path = dir_ / (name + ".safetensors");
    const absl::Status status = WriteSafetensors(
        path.string(), entries,
        [&](size_t t, uint64_t first, uint64_t count, uint8_t* out) {
          Fill(entries, t, first, count, out);
        },
        options);
    EXPECT_TRUE(status.ok()) << status;
    EXPECT_FALSE(fs::exists(path.string() + ".partial"));
    return ReadFile(path);
  }

  fs::path dir_;
};

// Mixed dtypes with an odd-length F16 tensor, so that later F32 tensors start
// at offsets that are not multiples of 4; one tensor large enough (3 MiB) to
// be split over threads and blocks.
std::vector<SafetensorsEntry> MixedEntries() {
  return {
      {"b.weight", {3, 5}, TensorDType::kF32},
      {"a.odd", {7}, TensorDType::kF16},
      {"c.big", {768, 1024}, TensorDType::kF32},
      {"d.empty", {0, 4}, TensorDType::kF32},
      {"e.bf16", {9, 3}, TensorDType::kBF16},
      {"f.scalar", {}, TensorDType::kF32},
  };
}

TEST_F(SafetensorsWriterTest, HeaderIsValidSafetensors) {
  const std::vector<SafetensorsEntry> entries = MixedEntries();
  const Parsed p = Parse(Write(entries, {}));
  EXPECT_EQ(p.header_length % 8, 0u);
  EXPECT_EQ(p.header["__metadata__"], (nlohmann::json{{"format", "pt"}}));
  ASSERT_EQ(p.header.size(), entries.size() + 1);

  // In name order, contiguous from 0, each prod(shape) * dtype size long.
  std::vector<std::string> names;
  for (const auto& e : entries) names.push_back(e.name);
  std::sort(names.begin(), names.end());
  uint64_t offset = 0;
  for (const std::string& name : names) {
    const auto& e = *std::find_if(entries.begin(), entries.end(),
                                  [&](const SafetensorsEntry& x) { return x.name == name; });
    const nlohmann::json& h = p.header.at(name);
    uint64_t elements = 1;
    for (int64_t d : e.shape) elements *= d;
    const uint64_t size = elements * DTypeSize(e.dtype);
    EXPECT_EQ(h.at("dtype"), std::string(SafetensorsDTypeName(e.dtype))) << name;
    EXPECT_EQ(h.at("shape").get<std::vector<int64_t>>(), e.shape) << name;
    EXPECT_EQ(h.at("data_offsets")[0].get<uint64_t>(), offset) << name;
    EXPECT_EQ(h.at("data_offsets")[1].get<uint64_t>(), offset + size) << name;
    offset += size;
  }
  EXPECT_EQ(p.data.size(), offset);
}

TEST_F(SafetensorsWriterTest, BytesLandAtTheirOffsets) {
  const std::vector<SafetensorsEntry> entries = MixedEntries();
  SafetensorsWriteOptions options;
  options.threads = 3;
  options.block_bytes = (1 << 20) + 6;  // not a multiple of any element size
  const Parsed p = Parse(Write(entries, options));
  for (size_t t = 0; t < entries.size(); ++t) {
    const uint64_t begin = p.header.at(entries[t].name).at("data_offsets")[0];
    const uint64_t end = p.header.at(entries[t].name).at("data_offsets")[1];
    std::string expected(end - begin, '\0');
    Fill(entries, t, 0, (end - begin) / DTypeSize(entries[t].dtype),
         reinterpret_cast<uint8_t*>(expected.data()));
    EXPECT_TRUE(p.data.substr(begin, end - begin) == expected) << entries[t].name;
  }
}

TEST_F(SafetensorsWriterTest, ThreadsAndBlockSizeDoNotChangeTheFile) {
  const std::vector<SafetensorsEntry> entries = MixedEntries();
  SafetensorsWriteOptions serial;
  serial.threads = 1;
  serial.block_bytes = uint64_t{1} << 30;
  SafetensorsWriteOptions parallel;
  parallel.threads = 8;
  parallel.block_bytes = 3 << 20;
  EXPECT_TRUE(Write(entries, serial, "serial") == Write(entries, parallel, "parallel"));

  // Blocks smaller than an element: one element per block.
  const std::vector<SafetensorsEntry> small = {entries[0], entries[1], entries[3], entries[4],
                                               entries[5]};
  SafetensorsWriteOptions one_byte_blocks;
  one_byte_blocks.block_bytes = 1;
  EXPECT_TRUE(Write(small, serial, "small_serial") ==
              Write(small, one_byte_blocks, "small_one_byte"));
}

TEST_F(SafetensorsWriterTest, ReportsEveryByte) {
  const std::vector<SafetensorsEntry> entries = MixedEntries();
  uint64_t reported = 0;
  SafetensorsWriteOptions options;
  options.block_bytes = 1 << 20;
  options.on_bytes_written = [&](uint64_t n) { reported += n; };
  const std::string file = Write(entries, options);
  EXPECT_EQ(reported, file.size());
}

TEST_F(SafetensorsWriterTest, EmptyFileHasOnlyAHeader) {
  const Parsed p = Parse(Write({}, {}));
  EXPECT_EQ(p.header_length % 8, 0u);
  EXPECT_EQ(p.header.size(), 1u);
  EXPECT_TRUE(p.data.empty());
}

TEST(PlanSafetensorsTest, RejectsBadEntries) {
  EXPECT_EQ(PlanSafetensors({{"x", {2}}, {"x", {3}}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanSafetensors({{"", {2}}}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanSafetensors({{"x", {2, -1}}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PlanSafetensorsTest, FileSizeIsHeaderPlusData) {
  const absl::StatusOr<SafetensorsLayout> layout =
      PlanSafetensors({{"x", {2, 3}, TensorDType::kF16}, {"y", {5}, TensorDType::kF32}});
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->data_size, 2u * 3 * 2 + 5 * 4);
  EXPECT_EQ(layout->file_size(), layout->header.size() + layout->data_size);
  EXPECT_EQ(layout->header.size() % 8, 0u);
}

}  // namespace
}  // namespace djinn::testmodel

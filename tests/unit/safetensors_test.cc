// The safetensors reader: files written byte by byte here (8-byte
// little-endian header length, JSON header, data), read back through
// SafetensorsFile and SafetensorsModel; every malformed header is an
// INVALID_ARGUMENT that says what is wrong.
#include "common/safetensors.h"

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace djinn {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string LittleEndian64(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return bytes;
}

// The whole file: header length, header, data.
std::string SafetensorsBytes(const std::string& header, const std::string& data) {
  return LittleEndian64(header.size()) + header + data;
}

void WriteBytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// `count` distinct bytes, so that a misplaced range is visible.
std::string Pattern(size_t count, int seed) {
  std::string bytes(count, '\0');
  for (size_t i = 0; i < count; ++i) bytes[i] = static_cast<char>((seed * 37 + i * 11) & 0xff);
  return bytes;
}

json Entry(const std::string& dtype, std::vector<int64_t> shape, uint64_t begin, uint64_t end) {
  return json{{"dtype", dtype}, {"shape", shape}, {"data_offsets", {begin, end}}};
}

std::string AsString(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           (std::string("safetensors_test_") + info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `header` + `data` to a file in the temp dir and opens it.
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> OpenWith(const std::string& header, const std::string& data) {
    const fs::path path = dir_ / "file.safetensors";
    WriteBytes(path, SafetensorsBytes(header, data));
    return SafetensorsFile::Open(path.string());
  }

  // Expects INVALID_ARGUMENT whose message contains every one of `words`.
  void ExpectCorrupt(const absl::StatusOr<std::unique_ptr<SafetensorsFile>>& file,
                     const std::vector<std::string>& words) {
    ASSERT_FALSE(file.ok());
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument) << file.status();
    for (const std::string& word : words) {
      EXPECT_NE(file.status().message().find(word), std::string::npos)
          << file.status() << " does not mention \"" << word << "\"";
    }
  }

  fs::path dir_;
};

TEST(DTypeTest, NamesAndSizes) {
  EXPECT_STREQ(DTypeName(DType::kFloat32), "float32");
  EXPECT_STREQ(DTypeName(DType::kFloat16), "float16");
  EXPECT_STREQ(DTypeName(DType::kBFloat16), "bfloat16");
  EXPECT_EQ(DTypeSize(DType::kFloat32), 4u);
  EXPECT_EQ(DTypeSize(DType::kFloat16), 2u);
  EXPECT_EQ(DTypeSize(DType::kBFloat16), 2u);
}

TEST_F(SafetensorsTest, ReadsTensorsOfEveryDtype) {
  // Stored out of name order and with a gap-free layout: a [2, 3] f32, then
  // b [4] bf16, then c [2, 2] f16.
  const json header = {{"__metadata__", {{"format", "pt"}}},
                       {"c", Entry("F16", {2, 2}, 32, 40)},
                       {"a", Entry("F32", {2, 3}, 0, 24)},
                       {"b", Entry("BF16", {4}, 24, 32)}};
  const std::string data = Pattern(40, 1);
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = OpenWith(header.dump(), data);
  ASSERT_TRUE(file.ok()) << file.status();
  const SafetensorsFile& f = **file;
  EXPECT_EQ(f.path(), (dir_ / "file.safetensors").string());
  ASSERT_EQ(f.tensors().size(), 3u);  // __metadata__ is not a tensor
  EXPECT_EQ(f.Find("__metadata__"), nullptr);
  EXPECT_EQ(f.Find("d"), nullptr);

  const TensorInfo* a = f.Find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->name, "a");
  EXPECT_EQ(a->dtype, DType::kFloat32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->elements(), 6);
  EXPECT_EQ(a->begin, 0u);
  EXPECT_EQ(a->end, 24u);
  EXPECT_EQ(a->bytes(), 24u);
  EXPECT_EQ(AsString(f.Data(*a)), data.substr(0, 24));

  const TensorInfo* b = f.Find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, DType::kBFloat16);
  EXPECT_EQ(b->shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(AsString(f.Data(*b)), data.substr(24, 8));

  const TensorInfo* c = f.Find("c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->dtype, DType::kFloat16);
  EXPECT_EQ(c->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(c->elements(), 4);
  EXPECT_EQ(AsString(f.Data(*c)), data.substr(32, 8));
}

TEST_F(SafetensorsTest, FloatValuesReadBackExactly) {
  const std::vector<float> values = {1.0f, -2.5f, 3.25f, 1e-7f, 65504.0f, -0.0f};
  std::string data(values.size() * 4, '\0');
  std::memcpy(data.data(), values.data(), data.size());
  // Header padded with spaces to a multiple of 8, as HF's writer does.
  std::string header = json{{"w", Entry("F32", {6}, 0, 24)}}.dump();
  header.resize((header.size() + 7) / 8 * 8, ' ');
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = OpenWith(header, data);
  ASSERT_TRUE(file.ok()) << file.status();
  const TensorInfo* w = (*file)->Find("w");
  ASSERT_NE(w, nullptr);
  std::vector<float> read(6);
  ASSERT_EQ((*file)->Data(*w).size(), 24u);
  std::memcpy(read.data(), (*file)->Data(*w).data(), 24);
  EXPECT_EQ(read, values);
}

TEST_F(SafetensorsTest, EmptyHeaderObjectHasNoTensors) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = OpenWith("{}", "");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->tensors().empty());
}

TEST_F(SafetensorsTest, MissingFileIsNotFound) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
      SafetensorsFile::Open((dir_ / "absent.safetensors").string());
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound) << file.status();
}

TEST_F(SafetensorsTest, FileShorterThanHeaderLength) {
  const fs::path path = dir_ / "short.safetensors";
  WriteBytes(path, std::string("\x05\x00\x00\x00", 4));
  ExpectCorrupt(SafetensorsFile::Open(path.string()), {path.string(), "shorter than the 8-byte header length"});
  WriteBytes(path, "");
  ExpectCorrupt(SafetensorsFile::Open(path.string()), {"0 bytes", "shorter"});
}

TEST_F(SafetensorsTest, HeaderLengthBeyondFile) {
  const fs::path path = dir_ / "file.safetensors";
  WriteBytes(path, LittleEndian64(1000) + "{}" + std::string(30, ' '));
  ExpectCorrupt(SafetensorsFile::Open(path.string()), {"header length 1000", "exceeds the file"});
  // One byte more than what follows the length field.
  WriteBytes(path, LittleEndian64(3) + "{}");
  ExpectCorrupt(SafetensorsFile::Open(path.string()), {"header length 3"});
  // Absurd lengths (e.g. a text file read as safetensors) do not wrap around.
  WriteBytes(path, "not a safetensors file at all");
  ExpectCorrupt(SafetensorsFile::Open(path.string()), {"exceeds the file"});
}

TEST_F(SafetensorsTest, HeaderNotJson) {
  ExpectCorrupt(OpenWith("{\"a\": ", ""), {"not a JSON object"});
  ExpectCorrupt(OpenWith("hello", ""), {"not a JSON object"});
  ExpectCorrupt(OpenWith("[1, 2]", ""), {"not a JSON object"});
  ExpectCorrupt(OpenWith("", ""), {"not a JSON object"});
}

TEST_F(SafetensorsTest, EntryMissingDtypeShapeOrOffsets) {
  const std::string data(24, '\0');
  ExpectCorrupt(OpenWith(R"({"w": {"shape": [6], "data_offsets": [0, 24]}})", data),
                {"\"w\"", "dtype, shape and data_offsets"});
  ExpectCorrupt(OpenWith(R"({"w": {"dtype": "F32", "data_offsets": [0, 24]}})", data),
                {"\"w\"", "dtype, shape and data_offsets"});
  ExpectCorrupt(OpenWith(R"({"w": {"dtype": "F32", "shape": [6]}})", data),
                {"\"w\"", "dtype, shape and data_offsets"});
  ExpectCorrupt(OpenWith(R"({"w": {"dtype": "F32", "shape": [6], "data_offsets": [0]}})", data),
                {"\"w\"", "data_offsets"});
  ExpectCorrupt(OpenWith(R"({"w": 7})", data), {"\"w\""});
  ExpectCorrupt(OpenWith(R"({"w": {"dtype": 0, "shape": [6], "data_offsets": [0, 24]}})", data), {"\"w\""});
}

TEST_F(SafetensorsTest, BadShapeOrOffsetValues) {
  const std::string data(24, '\0');
  ExpectCorrupt(OpenWith(R"({"w": {"dtype": "F32", "shape": [-6], "data_offsets": [0, 24]}})", data),
                {"\"w\"", "shape"});
  ExpectCorrupt(OpenWith(R"({"w": {"dtype": "F32", "shape": ["6"], "data_offsets": [0, 24]}})", data),
                {"\"w\"", "shape"});
  ExpectCorrupt(OpenWith(R"({"w": {"dtype": "F32", "shape": [6], "data_offsets": [-1, 24]}})", data),
                {"\"w\"", "data_offsets"});
  // Element counts that overflow 64 bits are refused, not wrapped round to a
  // small byte count.
  ExpectCorrupt(OpenWith(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})",
                         data),
                {"\"w\"", "overflow"});
}

TEST_F(SafetensorsTest, UnsupportedDtypeIsNamed) {
  ExpectCorrupt(OpenWith(json{{"ids", Entry("I64", {3}, 0, 24)}}.dump(), std::string(24, '\0')),
                {"\"ids\"", "unsupported tensor dtype I64"});
  ExpectCorrupt(OpenWith(json{{"q", Entry("F8_E4M3", {8}, 0, 8)}}.dump(), std::string(8, '\0')),
                {"F8_E4M3"});
}

TEST_F(SafetensorsTest, OffsetsMustMatchShape) {
  // [2, 3] f32 needs 24 bytes; the offsets say 20.
  ExpectCorrupt(OpenWith(json{{"w", Entry("F32", {2, 3}, 0, 20)}}.dump(), std::string(24, '\0')),
                {"\"w\"", "spans 20 bytes but its shape needs 24"});
  // Same element count, but the dtype is two bytes wide.
  ExpectCorrupt(OpenWith(json{{"w", Entry("BF16", {2, 3}, 0, 24)}}.dump(), std::string(24, '\0')),
                {"\"w\"", "spans 24 bytes but its shape needs 12"});
  // end before begin.
  ExpectCorrupt(OpenWith(json{{"w", Entry("F32", {1}, 8, 4)}}.dump(), std::string(24, '\0')), {"\"w\""});
}

TEST_F(SafetensorsTest, TensorPastEndOfDataIsTruncation) {
  const std::string header = json{{"a", Entry("F32", {2}, 0, 8)}, {"b", Entry("F32", {4}, 8, 24)}}.dump();
  ExpectCorrupt(OpenWith(header, std::string(16, '\0')), {"\"b\"", "ends at byte 24", "16-byte", "truncated"});
  // Exactly enough data is fine.
  EXPECT_TRUE(OpenWith(header, std::string(24, '\0')).ok());
}

TEST_F(SafetensorsTest, OverlappingTensors) {
  const std::string header = json{{"a", Entry("F32", {4}, 0, 16)}, {"b", Entry("F32", {4}, 8, 24)}}.dump();
  ExpectCorrupt(OpenWith(header, std::string(24, '\0')), {"\"a\"", "\"b\"", "overlap"});
  // Same range twice.
  const std::string twice = json{{"a", Entry("F32", {2}, 0, 8)}, {"b", Entry("F32", {2}, 0, 8)}}.dump();
  ExpectCorrupt(OpenWith(twice, std::string(8, '\0')), {"overlap"});
  // Touching ranges do not overlap.
  const std::string adjacent = json{{"a", Entry("F32", {2}, 0, 8)}, {"b", Entry("F32", {2}, 8, 16)}}.dump();
  EXPECT_TRUE(OpenWith(adjacent, std::string(16, '\0')).ok());
}

// --- Model directories -------------------------------------------------------

class SafetensorsModelTest : public SafetensorsTest {
 protected:
  // Writes a file holding float32 tensors of the given names and element
  // counts, each filled with a pattern seeded by its name's first letter.
  void WriteShard(const std::string& file, const std::vector<std::pair<std::string, int64_t>>& tensors,
                  const std::string& dtype = "F32") {
    json header = json::object();
    std::string data;
    const uint64_t width = dtype == "F32" ? 4 : 2;
    for (const auto& [name, count] : tensors) {
      const uint64_t begin = data.size();
      data += Pattern(count * width, name[0]);
      header[name] = Entry(dtype, {count}, begin, data.size());
    }
    WriteBytes(dir_ / file, SafetensorsBytes(header.dump(), data));
  }

  void WriteIndex(const json& weight_map) {
    const json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}};
    WriteBytes(dir_ / "model.safetensors.index.json", index.dump(2));
  }

  absl::StatusOr<std::unique_ptr<SafetensorsModel>> OpenModel() { return SafetensorsModel::Open(dir_.string()); }

  void ExpectInvalid(const absl::StatusOr<std::unique_ptr<SafetensorsModel>>& model,
                     const std::vector<std::string>& words) {
    ASSERT_FALSE(model.ok());
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << model.status();
    for (const std::string& word : words) {
      EXPECT_NE(model.status().message().find(word), std::string::npos)
          << model.status() << " does not mention \"" << word << "\"";
    }
  }
};

TEST_F(SafetensorsModelTest, SingleFile) {
  WriteShard("model.safetensors", {{"embed", 6}, {"norm", 3}});
  absl::StatusOr<std::unique_ptr<SafetensorsModel>> model = OpenModel();
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ((*model)->files().size(), 1u);
  EXPECT_EQ((*model)->total_bytes(), 36u);
  EXPECT_EQ((*model)->predominant_dtype(), DType::kFloat32);
  const TensorInfo* embed = (*model)->Find("embed");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->shape, (std::vector<int64_t>{6}));
  EXPECT_EQ(AsString((*model)->Data(*embed)), Pattern(24, 'e'));
  const TensorInfo* norm = (*model)->Find("norm");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(AsString((*model)->Data(*norm)), Pattern(12, 'n'));
  EXPECT_EQ((*model)->Find("lm_head"), nullptr);
}

TEST_F(SafetensorsModelTest, ShardedWithIndex) {
  WriteShard("model-00001-of-00002.safetensors", {{"alpha", 5}, {"beta", 2}});
  WriteShard("model-00002-of-00002.safetensors", {{"gamma", 7}});
  WriteIndex({{"alpha", "model-00001-of-00002.safetensors"},
              {"beta", "model-00001-of-00002.safetensors"},
              {"gamma", "model-00002-of-00002.safetensors"}});
  // A stray single-file checkpoint beside the index is ignored: the index wins.
  WriteShard("model.safetensors", {{"alpha", 1}});
  absl::StatusOr<std::unique_ptr<SafetensorsModel>> model = OpenModel();
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ((*model)->files().size(), 2u);
  EXPECT_EQ((*model)->total_bytes(), (5u + 2u + 7u) * 4u);
  for (const auto& [name, count] : std::vector<std::pair<std::string, int64_t>>{{"alpha", 5}, {"beta", 2}, {"gamma", 7}}) {
    const TensorInfo* info = (*model)->Find(name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_EQ(info->elements(), count) << name;
    // The data comes from the shard that holds the tensor, not the first file.
    EXPECT_EQ(AsString((*model)->Data(*info)), Pattern(count * 4, name[0])) << name;
  }
  const TensorInfo* gamma = (*model)->Find("gamma");
  ASSERT_NE(gamma, nullptr);
  EXPECT_EQ(gamma->begin, 0u);  // first tensor of the second shard
}

// What the loader reads with pread: the shard's open file at FileOffset
// holds the bytes the mapping shows.
TEST_F(SafetensorsModelTest, FileOffsetsReadWhatTheMappingHolds) {
  WriteShard("model-00001-of-00002.safetensors", {{"alpha", 5}, {"beta", 2}});
  WriteShard("model-00002-of-00002.safetensors", {{"gamma", 7}});
  WriteIndex({{"alpha", "model-00001-of-00002.safetensors"},
              {"beta", "model-00001-of-00002.safetensors"},
              {"gamma", "model-00002-of-00002.safetensors"}});
  absl::StatusOr<std::unique_ptr<SafetensorsModel>> model = OpenModel();
  ASSERT_TRUE(model.ok()) << model.status();
  for (const std::string name : {"alpha", "beta", "gamma"}) {
    SCOPED_TRACE(name);
    const TensorInfo* info = (*model)->Find(name);
    ASSERT_NE(info, nullptr);
    const SafetensorsFile& file = (*model)->FileOf(*info);
    EXPECT_EQ(file.Find(name), info);
    EXPECT_EQ(file.file().path(), file.path());
    EXPECT_GT(file.FileOffset(*info), 8u);  // past the header length and the header
    std::string read(info->bytes(), '\0');
    ASSERT_TRUE(ReadFully(ReadRange{&file.file(), file.FileOffset(*info), info->bytes(),
                                    reinterpret_cast<std::byte*>(read.data())})
                    .ok());
    EXPECT_EQ(read, AsString((*model)->Data(*info)));
  }
}

TEST_F(SafetensorsModelTest, IndexNamingMissingShard) {
  WriteShard("model-00001-of-00002.safetensors", {{"alpha", 5}});
  WriteIndex({{"alpha", "model-00001-of-00002.safetensors"}, {"beta", "model-00002-of-00002.safetensors"}});
  ExpectInvalid(OpenModel(), {"model-00002-of-00002.safetensors", "missing"});
}

TEST_F(SafetensorsModelTest, TensorInTwoShards) {
  WriteShard("a.safetensors", {{"alpha", 5}, {"shared", 2}});
  WriteShard("b.safetensors", {{"beta", 3}, {"shared", 2}});
  WriteIndex({{"alpha", "a.safetensors"}, {"beta", "b.safetensors"}, {"shared", "a.safetensors"}});
  ExpectInvalid(OpenModel(), {"\"shared\"", "more than one shard"});
}

TEST_F(SafetensorsModelTest, NeitherFilePresent) {
  WriteBytes(dir_ / "config.json", "{}");
  ExpectInvalid(OpenModel(), {"model.safetensors", dir_.string()});
}

TEST_F(SafetensorsModelTest, DirectoryMissing) {
  ASSERT_FALSE(SafetensorsModel::Open((dir_ / "nowhere").string()).ok());
}

TEST_F(SafetensorsModelTest, IndexWithoutWeightMap) {
  WriteShard("a.safetensors", {{"alpha", 5}});
  WriteBytes(dir_ / "model.safetensors.index.json", R"({"metadata": {}})");
  ExpectInvalid(OpenModel(), {"weight_map"});
  WriteBytes(dir_ / "model.safetensors.index.json", "not json");
  ExpectInvalid(OpenModel(), {"model.safetensors.index.json"});
}

TEST_F(SafetensorsModelTest, IndexShardNameMayNotLeaveTheDirectory) {
  WriteIndex({{"alpha", "../elsewhere.safetensors"}});
  ExpectInvalid(OpenModel(), {"../elsewhere.safetensors"});
}

TEST_F(SafetensorsModelTest, CorruptShardIsInvalidArgument) {
  WriteShard("a.safetensors", {{"alpha", 5}});
  WriteBytes(dir_ / "b.safetensors", SafetensorsBytes(json{{"beta", Entry("F32", {4}, 0, 16)}}.dump(), "short"));
  WriteIndex({{"alpha", "a.safetensors"}, {"beta", "b.safetensors"}});
  ExpectInvalid(OpenModel(), {"b.safetensors", "truncated"});
}

// The header promises "every shard must exist and hold what the index says".
TEST_F(SafetensorsModelTest, ShardMustHoldWhatTheIndexSays) {
  WriteShard("a.safetensors", {{"alpha", 5}});
  WriteShard("b.safetensors", {{"beta", 3}});
  // The index puts "gamma" in b.safetensors, which does not hold it.
  WriteIndex({{"alpha", "a.safetensors"}, {"beta", "b.safetensors"}, {"gamma", "b.safetensors"}});
  ExpectInvalid(OpenModel(), {"\"gamma\"", "b.safetensors"});
}

TEST_F(SafetensorsModelTest, PredominantDtype) {
  // Most tensors, and most bytes, in bfloat16; norms in float32.
  WriteShard("a.safetensors", {{"norm1", 4}, {"norm2", 4}}, "F32");
  WriteShard("b.safetensors", {{"q", 64}, {"k", 64}, {"v", 64}}, "BF16");
  WriteIndex({{"norm1", "a.safetensors"}, {"norm2", "a.safetensors"}, {"q", "b.safetensors"},
              {"k", "b.safetensors"}, {"v", "b.safetensors"}});
  absl::StatusOr<std::unique_ptr<SafetensorsModel>> model = OpenModel();
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->predominant_dtype(), DType::kBFloat16);
  EXPECT_EQ((*model)->total_bytes(), 2u * 16u + 3u * 128u);

  fs::remove(dir_ / "model.safetensors.index.json");
  WriteShard("model.safetensors", {{"w", 100}}, "F16");
  model = OpenModel();
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->predominant_dtype(), DType::kFloat16);
  EXPECT_EQ((*model)->Find("w")->dtype, DType::kFloat16);
}

}  // namespace
}  // namespace djinn

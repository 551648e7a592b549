// ParseByteSize and FormatBytes: the units people type on command lines, the
// errors they get for what is not a size, and the way sizes print back.
#include "common/byte_size.h"

#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace djinn {
namespace {

constexpr uint64_t kKiB = uint64_t{1} << 10;
constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kTiB = uint64_t{1} << 40;

uint64_t Parsed(const std::string& text) {
  absl::StatusOr<uint64_t> bytes = ParseByteSize(text);
  EXPECT_TRUE(bytes.ok()) << "\"" << text << "\": " << bytes.status();
  return bytes.value_or(~uint64_t{0});
}

TEST(ParseByteSizeTest, BinaryUnits) {
  EXPECT_EQ(Parsed("16GiB"), 16 * kGiB);
  EXPECT_EQ(Parsed("512MiB"), 512 * kMiB);
  EXPECT_EQ(Parsed("3KiB"), 3 * kKiB);
  EXPECT_EQ(Parsed("2TiB"), 2 * kTiB);
  EXPECT_EQ(Parsed("1.5GiB"), 3 * kGiB / 2);
  EXPECT_EQ(Parsed("0.25MiB"), kMiB / 4);
}

TEST(ParseByteSizeTest, DecimalUnits) {
  EXPECT_EQ(Parsed("1.5GB"), uint64_t{1'500'000'000});
  EXPECT_EQ(Parsed("4KB"), uint64_t{4'000});
  EXPECT_EQ(Parsed("250MB"), uint64_t{250'000'000});
  EXPECT_EQ(Parsed("3TB"), uint64_t{3'000'000'000'000});
}

TEST(ParseByteSizeTest, PlainNumbersAndBytes) {
  EXPECT_EQ(Parsed("1048576"), uint64_t{1048576});
  EXPECT_EQ(Parsed("0"), uint64_t{0});
  EXPECT_EQ(Parsed("17B"), uint64_t{17});
  EXPECT_EQ(Parsed("17b"), uint64_t{17});
}

TEST(ParseByteSizeTest, SingleLetterUnitsAreBinary) {
  EXPECT_EQ(Parsed("4k"), 4 * kKiB);
  EXPECT_EQ(Parsed("4K"), 4 * kKiB);
  EXPECT_EQ(Parsed("8m"), 8 * kMiB);
  EXPECT_EQ(Parsed("2G"), 2 * kGiB);
  EXPECT_EQ(Parsed("1t"), kTiB);
}

TEST(ParseByteSizeTest, CaseInsensitive) {
  EXPECT_EQ(Parsed("16gib"), 16 * kGiB);
  EXPECT_EQ(Parsed("16GIB"), 16 * kGiB);
  EXPECT_EQ(Parsed("16gIb"), 16 * kGiB);
  EXPECT_EQ(Parsed("2mb"), uint64_t{2'000'000});
  EXPECT_EQ(Parsed("2Mb"), uint64_t{2'000'000});
}

TEST(ParseByteSizeTest, Whitespace) {
  EXPECT_EQ(Parsed("  512MiB"), 512 * kMiB);
  EXPECT_EQ(Parsed("512MiB  "), 512 * kMiB);
  EXPECT_EQ(Parsed("\t512MiB\n"), 512 * kMiB);
  EXPECT_EQ(Parsed("512 MiB"), 512 * kMiB);
  EXPECT_EQ(Parsed(" 1.5 GB "), uint64_t{1'500'000'000});
}

void ExpectInvalid(const std::string& text, const std::string& mentioned) {
  absl::StatusOr<uint64_t> bytes = ParseByteSize(text);
  ASSERT_FALSE(bytes.ok()) << "\"" << text << "\" parsed as " << *bytes;
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument) << bytes.status();
  EXPECT_NE(bytes.status().message().find(mentioned), std::string::npos)
      << "\"" << text << "\": " << bytes.status() << " does not mention \"" << mentioned << "\"";
}

TEST(ParseByteSizeTest, RejectsEmpty) {
  ExpectInvalid("", "");
  ExpectInvalid("   ", "");
}

TEST(ParseByteSizeTest, RejectsUnitWithoutNumber) { ExpectInvalid("GiB", "GiB"); }

TEST(ParseByteSizeTest, RejectsNegative) {
  ExpectInvalid("-1", "-1");
  ExpectInvalid("-1GiB", "-1GiB");
}

TEST(ParseByteSizeTest, RejectsUnknownUnit) {
  ExpectInvalid("12XB", "xb");
  ExpectInvalid("12 bytes", "bytes");
  ExpectInvalid("1e3", "e3");
  ExpectInvalid("5GiBs", "gibs");
}

TEST(ParseByteSizeTest, RejectsMalformedNumbers) {
  ExpectInvalid("1.2.3", "1.2.3");
  ExpectInvalid(".", ".");
  ExpectInvalid("+5", "+5");
  ExpectInvalid("0x10", "0x10");
}

TEST(ParseByteSizeTest, RejectsOverflow) {
  // 2^24 TiB = 2^64 bytes: one more than uint64_t holds.
  ExpectInvalid("16777216TiB", "16777216TiB");
  ExpectInvalid("99999999999999999999", "99999999999999999999");
  ExpectInvalid("1000000000TB", "1000000000TB");
}

TEST(ParseByteSizeTest, LargestValuesThatFit) {
  EXPECT_EQ(Parsed("8388608TiB"), uint64_t{1} << 63);
  EXPECT_EQ(Parsed("17000000TB"), uint64_t{17'000'000'000'000'000'000u});
}

TEST(FormatBytesTest, SmallValuesInBytes) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(17), "17 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
}

TEST(FormatBytesTest, LargerValuesWithTwoDecimals) {
  EXPECT_EQ(FormatBytes(kKiB), "1.00 KiB");
  EXPECT_EQ(FormatBytes(1536), "1.50 KiB");
  EXPECT_EQ(FormatBytes(512 * kMiB), "512.00 MiB");
  EXPECT_EQ(FormatBytes(3 * kGiB / 2), "1.50 GiB");
  EXPECT_EQ(FormatBytes(16 * kGiB), "16.00 GiB");
  EXPECT_EQ(FormatBytes(kTiB), "1.00 TiB");
  EXPECT_EQ(FormatBytes(kMiB - 1), "1024.00 KiB");  // rounds, does not switch units
}

TEST(FormatBytesTest, TebibytesIsTheLargestUnit) {
  EXPECT_EQ(FormatBytes(1024 * kTiB), "1024.00 TiB");
  EXPECT_EQ(FormatBytes(std::numeric_limits<uint64_t>::max()), "16777216.00 TiB");
}

TEST(FormatBytesTest, ParsesBack) {
  for (uint64_t bytes : {uint64_t{0}, uint64_t{17}, kKiB, 1536 * kKiB, 512 * kMiB, 3 * kGiB / 2, 40 * kTiB}) {
    EXPECT_EQ(Parsed(FormatBytes(bytes)), bytes) << FormatBytes(bytes);
  }
}

}  // namespace
}  // namespace djinn

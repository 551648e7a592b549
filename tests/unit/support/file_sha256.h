// The SHA-256 of a file, as sha256sum prints it: how a test checks that the
// files it reads are the ones its fixture was made from.
#ifndef DJINN_TESTS_UNIT_SUPPORT_FILE_SHA256_H_
#define DJINN_TESTS_UNIT_SUPPORT_FILE_SHA256_H_

#include <stdio.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace djinn::testing {

// 64 lowercase hex digits; "" when sha256sum cannot be run.
inline std::string FileSha256(const std::filesystem::path& file) {
  FILE* pipe = ::popen(("sha256sum '" + file.string() + "'").c_str(), "r");
  if (pipe == nullptr) return "";
  char buffer[65] = {0};
  const size_t n = std::fread(buffer, 1, 64, pipe);
  ::pclose(pipe);
  return std::string(buffer, n);
}

}  // namespace djinn::testing

#endif  // DJINN_TESTS_UNIT_SUPPORT_FILE_SHA256_H_

// A file written under a temporary name and renamed into place on Commit(),
// so that a crash or an error never leaves a truncated model file that looks
// complete.
#ifndef DJINN_COMMON_TESTMODEL_OUTPUT_FILE_H_
#define DJINN_COMMON_TESTMODEL_OUTPUT_FILE_H_

#include <cstddef>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace djinn::testmodel {

class OutputFile {
 public:
  // Opens `path + ".partial"` for writing, replacing any previous one.
  static absl::StatusOr<OutputFile> Create(const std::string& path);

  OutputFile(OutputFile&& other) noexcept;
  OutputFile& operator=(OutputFile&& other) noexcept;
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  // Closes and removes the temporary file unless Commit() succeeded.
  ~OutputFile();

  absl::Status Write(const void* data, size_t size);

  // Closes the file and renames it to its final path (replacing it).
  absl::Status Commit();

 private:
  OutputFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string TempPath() const { return path_ + ".partial"; }
  // Closes and removes the temporary file if still open.
  void Abandon();

  std::string path_;
  int fd_ = -1;
};

// Writes `contents` to `path` through an OutputFile.
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents);

}  // namespace djinn::testmodel

#endif  // DJINN_COMMON_TESTMODEL_OUTPUT_FILE_H_

#include "common/testmodel/output_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace djinn::testmodel {
namespace {

absl::Status ErrnoError(const std::string& what, const std::string& path) {
  const int err = errno;
  return absl::Status(err == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kInternal,
                      absl::StrCat(what, " ", path, ": ", std::strerror(err)));
}

}  // namespace

absl::StatusOr<OutputFile> OutputFile::Create(const std::string& path) {
  const std::string temp = path + ".partial";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", temp);
  return OutputFile(path, fd);
}

OutputFile::OutputFile(OutputFile&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {}

OutputFile& OutputFile::operator=(OutputFile&& other) noexcept {
  if (this != &other) {
    Abandon();
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

OutputFile::~OutputFile() { Abandon(); }

void OutputFile::Abandon() {
  if (fd_ >= 0) {
    ::close(std::exchange(fd_, -1));
    ::unlink(TempPath().c_str());
  }
}

absl::Status OutputFile::Write(const void* data, size_t size) {
  if (fd_ < 0) return absl::FailedPreconditionError("write to a closed OutputFile");
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot write", TempPath());
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status OutputFile::Commit() {
  if (fd_ < 0) return absl::FailedPreconditionError("commit of a closed OutputFile");
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) {
    absl::Status status = ErrnoError("cannot close", TempPath());
    ::unlink(TempPath().c_str());
    return status;
  }
  if (std::rename(TempPath().c_str(), path_.c_str()) != 0) {
    absl::Status status = ErrnoError("cannot rename to", path_);
    ::unlink(TempPath().c_str());
    return status;
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  absl::StatusOr<OutputFile> file = OutputFile::Create(path);
  if (!file.ok()) return file.status();
  if (absl::Status s = file->Write(contents.data(), contents.size()); !s.ok()) return s;
  return file->Commit();
}

}  // namespace djinn::testmodel

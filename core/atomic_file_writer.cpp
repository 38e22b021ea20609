#include "core/atomic_file_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace deltarl {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("cannot write \"" + path + "\": " + what);
}

void fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return;  // best effort: some filesystems refuse to open folders
  ::fsync(fd);
  ::close(fd);
}

std::string parent_folder(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::string path)
    : path_(std::move(path)),
      temporary_path_(path_ + ".tmp." + std::to_string(::getpid())) {
  stream_.open(temporary_path_, std::ios::binary | std::ios::trunc);
  if (!stream_) fail(path_, std::strerror(errno) + std::string(" (does its folder exist?)"));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) {
    stream_.close();
    std::remove(temporary_path_.c_str());
  }
}

void AtomicFileWriter::commit() {
  stream_.flush();
  if (!stream_) fail(path_, "write failed (disk full?)");
  stream_.close();
  fsync_path(temporary_path_, O_RDONLY);
  if (std::rename(temporary_path_.c_str(), path_.c_str()) != 0) {
    const std::string error = std::strerror(errno);
    std::remove(temporary_path_.c_str());
    fail(path_, "rename failed: " + error);
  }
  committed_ = true;
  fsync_path(parent_folder(path_), O_RDONLY | O_DIRECTORY);
}

}  // namespace deltarl

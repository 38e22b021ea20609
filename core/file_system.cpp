#include "core/file_system.h"

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/atomic_file_writer.h"
#include "core/input_error.h"

namespace deltarl {

bool path_exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

bool is_directory(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

std::string join_path(const std::string& folder, const std::string& name) {
  if (folder.empty()) return name;
  return folder.back() == '/' ? folder + name : folder + "/" + name;
}

void make_directories(const std::string& path) {
  if (path.empty() || is_directory(path)) return;
  const auto slash = path.find_last_of('/', path.size() > 1 ? path.size() - 2 : 0);
  if (slash != std::string::npos && slash > 0) make_directories(path.substr(0, slash));
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    throw InputError("cannot create folder \"" + path + "\": " + std::strerror(errno));
  }
}

void remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw InputError("cannot remove \"" + path + "\": " + std::strerror(errno));
  }
}

void remove_tree(const std::string& path) {
  if (!path_exists(path)) return;
  ::nftw(path.c_str(),
         [](const char* entry, const struct stat*, int, struct FTW*) { return ::remove(entry); },
         /*nopenfd=*/16, FTW_DEPTH | FTW_PHYS);
}

void copy_file(const std::string& from, const std::string& to) {
  std::ifstream input(from, std::ios::binary);
  if (!input) throw InputError("cannot open \"" + from + "\" to copy it");
  AtomicFileWriter output(to);
  output.stream() << input.rdbuf();
  if (input.bad()) throw InputError("reading \"" + from + "\" failed while copying it to \"" + to + "\"");
  output.commit();
}

std::string make_temporary_directory(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = join_path(base != nullptr && *base != '\0' ? base : "/tmp", prefix + "XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw InputError("cannot create a temporary folder from \"" + pattern + "\": " + std::strerror(errno));
  }
  return pattern;
}

int64_t file_size(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 ? static_cast<int64_t>(info.st_size) : -1;
}

std::string read_file_text(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw InputError(path + ": cannot open for reading (" + std::strerror(errno) + ")");
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) throw InputError(path + ": read failed");
  return text;
}

std::vector<std::string> list_directory(const std::string& path) {
  std::vector<std::string> names;
  DIR* folder = ::opendir(path.c_str());
  if (folder == nullptr) return names;
  while (const dirent* entry = ::readdir(folder)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(folder);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace deltarl

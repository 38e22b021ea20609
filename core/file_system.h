// File-system helpers on POSIX calls. deltarl does not use std::filesystem:
// LibTorch wheels (pip `torch` 2.x) export their own copies of std::filesystem's
// symbols, and a program linking both calls into the wheel's copy and crashes
// (seen with remove_all). These few helpers cover what deltarl needs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace deltarl {

bool path_exists(const std::string& path);
bool is_directory(const std::string& path);
// "a" + "b" → "a/b" (no doubled slash).
std::string join_path(const std::string& folder, const std::string& name);
// Like mkdir -p. Throws InputError naming the path on failure.
void make_directories(const std::string& path);
// Removes a file if present. Throws InputError if it exists and cannot be removed.
void remove_file(const std::string& path);
// Removes a folder and everything below it, if present.
void remove_tree(const std::string& path);
// Copies a file; the copy appears atomically. Throws InputError naming both paths.
void copy_file(const std::string& from, const std::string& to);
// A new, empty folder under $TMPDIR (or /tmp) whose name starts with `prefix`.
std::string make_temporary_directory(const std::string& prefix);
int64_t file_size(const std::string& path);  // -1 if absent
// A whole file's bytes. Throws InputError naming the path when it cannot be read.
std::string read_file_text(const std::string& path);
// Names of the entries of a folder (no "." or ".."), sorted.
std::vector<std::string> list_directory(const std::string& path);

}  // namespace deltarl

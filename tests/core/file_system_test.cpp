#include "core/file_system.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/input_error.h"

namespace deltarl {
namespace {

TEST(FileSystem, CreateCopyListAndRemove) {
  const std::string root = make_temporary_directory("deltarl_fs_");
  EXPECT_TRUE(is_directory(root));
  const std::string nested = join_path(join_path(root, "a/b"), "c");
  make_directories(nested);
  EXPECT_TRUE(is_directory(nested));
  make_directories(nested);  // already there: fine
  std::ofstream(join_path(root, "x.txt")) << "hello";
  copy_file(join_path(root, "x.txt"), join_path(nested, "y.txt"));
  EXPECT_EQ(file_size(join_path(nested, "y.txt")), 5);
  EXPECT_EQ(list_directory(root), (std::vector<std::string>{"a", "x.txt"}));
  EXPECT_THROW(copy_file(join_path(root, "missing"), join_path(root, "z")), InputError);
  EXPECT_THROW(make_directories(join_path(join_path(root, "x.txt"), "under_a_file")), InputError);
  remove_file(join_path(root, "x.txt"));
  remove_file(join_path(root, "x.txt"));  // absent: fine
  EXPECT_FALSE(path_exists(join_path(root, "x.txt")));
  EXPECT_EQ(file_size(join_path(root, "x.txt")), -1);
  remove_tree(root);
  EXPECT_FALSE(path_exists(root));
  EXPECT_EQ(join_path("a/", "b"), "a/b");
}

}  // namespace
}  // namespace deltarl

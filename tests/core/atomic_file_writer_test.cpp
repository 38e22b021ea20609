#include "core/atomic_file_writer.h"
#include "core/file_system.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace deltarl {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class AtomicFileWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = make_temporary_directory("deltarl_atomic_");
    path_ = join_path(folder_, "out.txt");
  }
  void TearDown() override { remove_tree(folder_); }
  std::string folder_;
  std::string path_;
};

TEST_F(AtomicFileWriterTest, CommitReplacesTheFileWholly) {
  { std::ofstream(path_) << "old"; }
  {
    AtomicFileWriter writer(path_);
    writer.stream() << "new content";
    EXPECT_EQ(read_file(path_), "old");  // not visible before commit
    writer.commit();
  }
  EXPECT_EQ(read_file(path_), "new content");
  EXPECT_EQ(list_directory(folder_), std::vector<std::string>{"out.txt"});
}

TEST_F(AtomicFileWriterTest, WithoutCommitTheOldFileSurvivesAndNoTemporaryRemains) {
  { std::ofstream(path_) << "old"; }
  {
    AtomicFileWriter writer(path_);
    writer.stream() << "partial";
  }
  EXPECT_EQ(read_file(path_), "old");
  EXPECT_EQ(list_directory(folder_), std::vector<std::string>{"out.txt"});
}

TEST_F(AtomicFileWriterTest, MissingFolderIsAnErrorNamingThePath) {
  const std::string bad = join_path(join_path(folder_, "no_such_folder"), "x.txt");
  try {
    AtomicFileWriter writer(bad);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find(bad), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace deltarl

#include "core/atomic_file_writer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
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
    folder_ = std::filesystem::temp_directory_path() /
              ("deltarl_atomic_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
               "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(folder_);
    path_ = (folder_ / "out.txt").string();
  }
  void TearDown() override { std::filesystem::remove_all(folder_); }
  std::filesystem::path folder_;
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
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(folder_), {}), 1);
}

TEST_F(AtomicFileWriterTest, WithoutCommitTheOldFileSurvivesAndNoTemporaryRemains) {
  { std::ofstream(path_) << "old"; }
  {
    AtomicFileWriter writer(path_);
    writer.stream() << "partial";
  }
  EXPECT_EQ(read_file(path_), "old");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(folder_), {}), 1);
}

TEST_F(AtomicFileWriterTest, MissingFolderIsAnErrorNamingThePath) {
  const std::string bad = (folder_ / "no_such_folder" / "x.txt").string();
  try {
    AtomicFileWriter writer(bad);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find(bad), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace deltarl

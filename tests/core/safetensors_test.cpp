// safetensors: round trip, and every corruption the reader must refuse with a
// message naming the file and the tensor.
#include "core/safetensors.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <unistd.h>

#include <cstring>
#include <fstream>

#include "core/file_system.h"
#include "core/input_error.h"

namespace deltarl {
namespace {

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = make_temporary_directory("deltarl_st_");
  }
  void TearDown() override { remove_tree(folder_); }
  std::string path(const std::string& name) const { return join_path(folder_, name); }

  // A file with a hand-written header and `data_bytes` bytes of data.
  std::string write_raw(const std::string& header, size_t data_bytes, int64_t claimed_header = -1) {
    const std::string file = path("raw.safetensors");
    std::ofstream out(file, std::ios::binary);
    uint64_t size = claimed_header >= 0 ? static_cast<uint64_t>(claimed_header) : header.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((size >> (8 * i)) & 0xFF));
    out << header << std::string(data_bytes, '\0');
    return file;
  }

  std::string error_of(const std::string& file) {
    try {
      SafetensorsFile reader(file);
    } catch (const InputError& error) {
      return error.what();
    }
    return "";
  }

  std::string folder_;
};

TEST_F(SafetensorsTest, RoundTripsEveryDtypeAndMetadata) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors = {
      {"a.f32", torch::randn({3, 5})},
      {"b.bf16", torch::randn({7}).to(torch::kBFloat16)},
      {"c.f16", torch::randn({2, 2, 2}).to(torch::kFloat16)},
      {"d.i64", torch::arange(10, torch::kInt64)},
      {"e.scalar", torch::tensor(3.5)},
      {"f.empty", torch::zeros({0, 4})},
      {"g.view", torch::randn({4, 6}).t()},
  };
  write_safetensors(path("m.safetensors"), tensors, {{"format", "pt"}, {"note", "x"}});
  SafetensorsFile file(path("m.safetensors"));
  EXPECT_EQ(file.metadata().at("format"), "pt");
  ASSERT_EQ(file.entries().size(), tensors.size());
  for (const auto& [name, tensor] : tensors) {
    const torch::Tensor read = file.tensor(name);
    EXPECT_EQ(read.scalar_type(), tensor.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(read, tensor)) << name;
  }
  // The data section starts 8-byte aligned.
  std::ifstream raw(path("m.safetensors"), std::ios::binary);
  uint64_t header = 0;
  raw.read(reinterpret_cast<char*>(&header), 8);
  EXPECT_EQ(header % 8, 0u);
}

TEST_F(SafetensorsTest, TruncatedFilesAreRefused) {
  write_safetensors(path("m.safetensors"), {{"w", torch::randn({64})}});
  const auto full = file_size(path("m.safetensors"));
  ASSERT_EQ(::truncate(path("m.safetensors").c_str(), full - 4), 0);
  const std::string error = error_of(path("m.safetensors"));
  EXPECT_NE(error.find("m.safetensors"), std::string::npos) << error;
  EXPECT_NE(error.find("tensor \"w\""), std::string::npos) << error;
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
  ASSERT_EQ(::truncate(path("m.safetensors").c_str(), 5), 0);
  EXPECT_NE(error_of(path("m.safetensors")).find("shorter than its 8-byte header size"), std::string::npos);
}

TEST_F(SafetensorsTest, HeaderLengthBeyondTheFileIsRefused) {
  const std::string error = error_of(write_raw("{}", 0, /*claimed_header=*/1000));
  EXPECT_NE(error.find("header claims 1000 bytes but the file has 2"), std::string::npos) << error;
}

TEST_F(SafetensorsTest, CorruptHeadersNameTheTensor) {
  EXPECT_NE(error_of(write_raw("{not json", 0)).find("header is not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(write_raw(R"({"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}})", 1))
                .find("tensor \"w\": unsupported dtype \"F8_E4M3\""),
            std::string::npos);
  EXPECT_NE(error_of(write_raw(R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})", 20))
                .find("F32 [2, 3] needs 24 bytes but data_offsets [0,20] span 20"),
            std::string::npos);
  EXPECT_NE(error_of(write_raw(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                   "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 12))
                .find("overlapping"),
            std::string::npos);
  EXPECT_NE(error_of(write_raw(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8)).find("a gap"),
            std::string::npos);
  EXPECT_NE(error_of(write_raw(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 9))
                .find("cover 4 of 9"),
            std::string::npos);
  EXPECT_NE(error_of(write_raw(R"({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4))
                .find("not a list of sizes"),
            std::string::npos);
  EXPECT_NE(error_of(write_raw(R"({"a": {"dtype": "F32", "shape": [1]}})", 4)).find("needs \"dtype\", \"shape\" and \"data_offsets\""),
            std::string::npos);
  EXPECT_NE(error_of(path("missing.safetensors")).find("cannot open"), std::string::npos);
}

TEST_F(SafetensorsTest, AskingForAnAbsentTensorNamesIt) {
  write_safetensors(path("m.safetensors"), {{"w", torch::ones({1})}});
  SafetensorsFile file(path("m.safetensors"));
  try {
    file.tensor("v");
    FAIL();
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("has no tensor \"v\""), std::string::npos);
  }
  EXPECT_THROW(write_safetensors(path("d.safetensors"), {{"w", torch::ones({1})}, {"w", torch::ones({1})}}), InputError);
}

}  // namespace
}  // namespace deltarl

#include "core/jsonl_reader.h"

#include <gtest/gtest.h>

#include <sstream>

#include "core/input_error.h"

namespace deltarl {
namespace {

std::string error_of(const std::string& text) {
  std::istringstream input(text);
  JsonlReader reader(input, "data.jsonl");
  try {
    while (reader.next()) {}
  } catch (const InputError& error) {
    return error.what();
  }
  return "";
}

TEST(JsonlReader, ReadsObjectsSkipsBlankLinesAndCountsLines) {
  std::istringstream input("{\"a\": 1}\n\n  \r\n{\"b\": 2, \"a\": 3}\r\n");
  JsonlReader reader(input, "data.jsonl");
  auto first = reader.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->line_number, 1);
  EXPECT_EQ(first->value["a"], 1);
  auto second = reader.next();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->line_number, 4);
  EXPECT_EQ(reader.where(), "data.jsonl:4");
  EXPECT_EQ(second->value.dump(), "{\"b\":2,\"a\":3}");  // key order kept
  EXPECT_FALSE(reader.next());
}

TEST(JsonlReader, MalformedLineNamesFileAndLine) {
  const std::string error = error_of("{\"a\": 1}\n{\"a\": \n");
  EXPECT_NE(error.find("data.jsonl:2"), std::string::npos) << error;
  EXPECT_NE(error.find("not valid JSON"), std::string::npos) << error;
}

TEST(JsonlReader, NonObjectLineIsAnError) {
  const std::string error = error_of("[1, 2]\n");
  EXPECT_NE(error.find("data.jsonl:1: expected a JSON object, got array"), std::string::npos) << error;
}

TEST(JsonlReader, FieldAccessorsNameTheField) {
  const Json object = Json::parse(R"({"n": 3, "x": 2.5, "s": "seven"})");
  EXPECT_EQ(required_integer(object, "n", "f:1"), 3);
  EXPECT_DOUBLE_EQ(required_number(object, "x", "f:1"), 2.5);
  EXPECT_FALSE(optional_number(object, "missing", "f:1"));
  try {
    required_number(object, "s", "f:1");
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("f:1: field \"s\" must be a number, got string"),
              std::string::npos) << error.what();
  }
  EXPECT_THROW(required_integer(object, "x", "f:1"), InputError);
  EXPECT_THROW(required_number(object, "missing", "f:1"), InputError);
}

}  // namespace
}  // namespace deltarl

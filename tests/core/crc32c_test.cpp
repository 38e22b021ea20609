#include "core/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace deltarl {
namespace {

TEST(Crc32c, KnownValues) {
  // RFC 3720 (iSCSI) test vectors and the common check value.
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  const std::string zeros(32, '\0'), ones(32, '\xff');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(crc32c("", 0), 0u);
}

TEST(Crc32c, ExtendingInPiecesEqualsTheWhole) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += static_cast<char>(i * 7 + 3);
  const uint32_t whole = crc32c(text.data(), text.size());
  for (size_t cut : {0, 1, 7, 8, 9, 500, 999}) {
    EXPECT_EQ(crc32c_extend(crc32c(text.data(), cut), text.data() + cut, text.size() - cut), whole) << cut;
  }
}

}  // namespace
}  // namespace deltarl

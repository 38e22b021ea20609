#include "core/tensor_memory_reuse.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace deltarl {
namespace {

#if defined(__GLIBC__)
#if __GLIBC_PREREQ(2, 33)  // mallinfo2
TEST(TensorMemoryReuse, FreedTensorMemoryStaysInTheHeapForTheNextAllocation) {
  ASSERT_TRUE(keep_freed_tensor_memory()) << "the test runs without malloc settings of its own";
  constexpr size_t kBytes = 16 << 20;  // a forward pass's temporary: over glibc's default threshold
  const auto mapped_before = mallinfo2().hblkhd;
  {
    const torch::Tensor temporary = torch::ones({static_cast<int64_t>(kBytes / sizeof(float))});
    // From the heap, not a mapping of its own that free() would unmap.
    EXPECT_EQ(mallinfo2().hblkhd, mapped_before);
    EXPECT_FLOAT_EQ(temporary.sum().item<float>(), static_cast<float>(kBytes / sizeof(float)));
  }
  // Freed, it stays with the process for the next one (not trimmed away).
  EXPECT_GE(mallinfo2().fordblks, kBytes);
  const torch::Tensor next = torch::zeros({static_cast<int64_t>(kBytes / sizeof(float))});
  EXPECT_EQ(mallinfo2().hblkhd, mapped_before);
  EXPECT_EQ(next.sum().item<float>(), 0.0f);
}
#endif

TEST(TensorMemoryReuse, TheUsersOwnMallocSettingsWin) {
  ASSERT_EQ(setenv("MALLOC_TRIM_THRESHOLD_", "131072", /*overwrite=*/1), 0);
  EXPECT_FALSE(keep_freed_tensor_memory());
  unsetenv("MALLOC_TRIM_THRESHOLD_");
  ASSERT_EQ(setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=131072", 1), 0);
  EXPECT_FALSE(keep_freed_tensor_memory());
  ASSERT_EQ(setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0", 1), 0);  // not a malloc setting
  EXPECT_TRUE(keep_freed_tensor_memory());
  unsetenv("GLIBC_TUNABLES");
}
#endif

}  // namespace
}  // namespace deltarl

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
TEST(TensorMemoryReuse, FreedTensorMemoryStaysInTheHeapForTheNextAllocation) {
  keep_freed_tensor_memory();
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

}  // namespace
}  // namespace deltarl

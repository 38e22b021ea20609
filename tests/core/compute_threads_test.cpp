#include "core/compute_threads.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

namespace deltarl {
namespace {

TEST(ComputeThreadsTest, ParallelForInDeltarlsKernelsUsesThePool) {
#if !defined(DELTARL_OPENMP_KERNELS)
  GTEST_SKIP() << "built without OpenMP for deltarl's kernels";
#endif
  // at::parallel_for splits work only in files compiled with OpenMP; without,
  // the calling thread ran every chunk of the inference kernels alone. Three
  // threads, more than this machine's cores: a runtime other than LibTorch's,
  // sized by the core count, would not follow set_num_threads.
  const int threads = at::get_num_threads();
  at::set_num_threads(3);
  EXPECT_EQ(parallel_for_threads(), 3);
  at::set_num_threads(threads);
}

}  // namespace
}  // namespace deltarl

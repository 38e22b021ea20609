#include "core/compute_threads.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

namespace deltarl {
namespace {

TEST(ComputeThreadsTest, ParallelForInDeltarlsKernelsUsesThePool) {
  // at::parallel_for splits work only in files compiled with OpenMP; without,
  // the calling thread ran every chunk of the inference kernels alone.
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  EXPECT_EQ(parallel_for_threads(), 2);
  at::set_num_threads(1);
  EXPECT_EQ(parallel_for_threads(), 1);
  at::set_num_threads(threads);
}

}  // namespace
}  // namespace deltarl

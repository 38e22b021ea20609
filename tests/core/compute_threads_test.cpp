#include "core/compute_threads.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cstdlib>

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

TEST(ComputeThreadsTest, TheThreadCountFollowsOmpNumThreads) {
  // The suite's variants (label `variants`) set OMP_NUM_THREADS among their
  // variables: this checks that the whole environment reaches the tests.
  const char* requested = std::getenv("OMP_NUM_THREADS");
  if (requested == nullptr) GTEST_SKIP() << "OMP_NUM_THREADS is not set";
  EXPECT_EQ(at::get_num_threads(), std::atoi(requested));
}

}  // namespace
}  // namespace deltarl

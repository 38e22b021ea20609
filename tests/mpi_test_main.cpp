// main() for GoogleTest executables run under mpirun: MPI lives for the whole
// run, and only rank 0 prints the usual report (every rank still fails the
// process, and so mpirun, on a failed assertion).
#include <gtest/gtest.h>

#include "trainer/comm/mpi_environment.h"

int main(int argc, char** argv) {
  deltarl::MpiEnvironment mpi(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (mpi.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int failed = RUN_ALL_TESTS();
  return failed;
}

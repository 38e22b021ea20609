#include "trainer/comm/mpi_environment.h"

#include <mpi.h>

#include <cstdlib>
#include <stdexcept>

#include "trainer/comm/internal/mpi_check.h"

namespace deltarl {

MpiEnvironment::MpiEnvironment(int* argc, char*** argv) {
  int initialized = 0;
  DELTARL_MPI_CHECK(MPI_Initialized(&initialized));
  if (!initialized) {
    int provided = MPI_THREAD_SINGLE;
    DELTARL_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    owns_mpi_ = true;
    if (provided < MPI_THREAD_FUNNELED) {
      throw std::runtime_error(
          "MPI provides only MPI_THREAD_SINGLE; deltarl needs MPI_THREAD_FUNNELED "
          "(a thread-enabled MPI build such as Debian's OpenMPI)");
    }
  }
  DELTARL_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  DELTARL_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &world_size_));
  // Ranks sharing memory are ranks on the same host: their order there is the local rank.
  MPI_Comm host_comm = MPI_COMM_NULL;
  DELTARL_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_,
                                        MPI_INFO_NULL, &host_comm));
  DELTARL_MPI_CHECK(MPI_Comm_rank(host_comm, &local_rank_));
  DELTARL_MPI_CHECK(MPI_Comm_size(host_comm, &local_size_));
  DELTARL_MPI_CHECK(MPI_Comm_free(&host_comm));
}

MpiEnvironment::~MpiEnvironment() {
  if (!owns_mpi_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void MpiEnvironment::abort_all(int exit_code) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::exit(exit_code);
}

}  // namespace deltarl

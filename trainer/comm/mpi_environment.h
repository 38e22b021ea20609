// MpiEnvironment: owns MPI's lifetime for a learner process and tells it where it
// stands: rank, world size, and rank/size among the ranks on the same host (the
// local rank picks the GPU). Works under `mpirun` and `srun --mpi=pmix`.
//
//   int main(int argc, char** argv) {
//     deltarl::MpiEnvironment mpi(&argc, &argv);   // MPI_Init_thread
//     ...                                          // MPI_Finalize on scope exit
//   }
//
// Exactly one MpiEnvironment per process, created before any communicator.
#pragma once

namespace deltarl {

class MpiEnvironment {
 public:
  // Initializes MPI with at least MPI_THREAD_FUNNELED (all MPI calls from the
  // thread that created this object). Throws std::runtime_error if MPI cannot
  // start or provides less. If MPI is already initialized, adopts it and does
  // not finalize.
  MpiEnvironment(int* argc, char*** argv);
  ~MpiEnvironment();
  MpiEnvironment(const MpiEnvironment&) = delete;
  MpiEnvironment& operator=(const MpiEnvironment&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }   // rank among processes on this host.
  int local_size() const { return local_size_; }   // processes on this host.

  // Ends every rank's process with `exit_code` (MPI_Abort). For fatal errors on
  // one rank that would otherwise leave the others blocked in a collective.
  [[noreturn]] static void abort_all(int exit_code);

 private:
  bool owns_mpi_ = false;
  int rank_ = 0;
  int world_size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
};

}  // namespace deltarl

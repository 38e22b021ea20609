// The gradient all-reduce's cost by message size at this world size, for the
// scaling cost model (deploy/tools/scaling_model.py fits latency and bandwidth
// to it). Sum of float32 tensors from 4 KiB to 64 MiB through the trainer's own
// MpiCommunicator; each timing is the slowest rank's (MPI_MAX), median of 9.
// Prints CSV on rank 0: ranks,bytes,seconds,algorithm_bandwidth_gb_s.
//
//   mpirun -np 2 build/bench/allreduce_sweep_bench
#include <mpi.h>

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "trainer/comm/mpi_communicator.h"
#include "trainer/comm/mpi_environment.h"

int main(int argc, char** argv) {
  deltarl::MpiEnvironment mpi(&argc, &argv);
  deltarl::MpiCommunicator communicator;
  torch::set_num_threads(1);
  if (communicator.rank() == 0) std::printf("ranks,bytes,seconds,algorithm_bandwidth_gb_s\n");
  for (int64_t bytes = 4 << 10; bytes <= (64 << 20); bytes *= 4) {
    torch::Tensor tensor = torch::ones({bytes / 4}, torch::kFloat32);
    std::vector<double> times;
    communicator.all_reduce_sum(tensor);  // warm-up
    for (int repeat = 0; repeat < 9; ++repeat) {
      communicator.barrier();
      const double start = MPI_Wtime();
      communicator.all_reduce_sum(tensor);
      double elapsed = MPI_Wtime() - start;
      MPI_Allreduce(MPI_IN_PLACE, &elapsed, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      times.push_back(elapsed);
    }
    std::sort(times.begin(), times.end());
    const double seconds = times[times.size() / 2];
    if (communicator.rank() == 0) {
      std::printf("%d,%lld,%.9f,%.4f\n", communicator.world_size(), static_cast<long long>(bytes), seconds,
                  static_cast<double>(bytes) / seconds / 1e9);
    }
  }
  return 0;
}

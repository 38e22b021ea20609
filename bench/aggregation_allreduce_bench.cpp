// What group-global ΔL weights cost: the step statistics (accumulate, ONE
// all-reduce, per-sample weights and advantages) for 1,024 groups × 16 samples,
// as a fraction of the gradient all-reduce of a 10M-parameter model measured in
// the same run on the same ranks. Run under mpirun:
//
//   mpirun -np 2 --oversubscribe build/bench/aggregation_allreduce_bench
//
// Collectives need every rank in lockstep, so this uses a fixed-iteration
// harness (each timing is the slowest rank's, via MPI_MAX; the median over
// repeats is reported) rather than Google Benchmark, whose adaptive iteration
// counts would differ between ranks and deadlock.
#include <mpi.h>

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "trainer/algorithm/advantage.h"
#include "trainer/algorithm/loss_aggregation.h"
#include "trainer/comm/mpi_communicator.h"
#include "trainer/comm/mpi_environment.h"

namespace {

using deltarl::Communicator;

// Median over `repeats` of the slowest rank's wall time for one call of `work`.
double median_seconds(Communicator& communicator, int repeats, const std::function<void()>& work) {
  work();  // warm-up
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    communicator.barrier();
    const double start = MPI_Wtime();
    work();
    double elapsed = MPI_Wtime() - start;
    MPI_Allreduce(MPI_IN_PLACE, &elapsed, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    times.push_back(elapsed);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

struct LocalSample {
  int64_t group;
  int64_t length;
  double reward;
};

}  // namespace

int main(int argc, char** argv) {
  deltarl::MpiEnvironment mpi(&argc, &argv);
  deltarl::MpiCommunicator communicator;
  const int rank = communicator.rank(), world = communicator.world_size();
  const int64_t groups = 1024, group_size = 16;
  const int64_t parameters = 10'000'000;
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 15;
  torch::set_num_threads(1);

  // Samples dealt round-robin, so every group is split across ranks.
  std::mt19937_64 generator(17);
  std::uniform_int_distribution<int64_t> length(16, 4096);
  std::bernoulli_distribution correct(0.4);
  std::vector<LocalSample> local;
  for (int64_t i = 0; i < groups * group_size; ++i) {
    LocalSample sample{i / group_size, length(generator), correct(generator) ? 1.0 : 0.0};
    if (i % world == rank) local.push_back(sample);
  }
  deltarl::AggregationConfig config;  // delta-l, α = 1, group scope
  config.max_response_length = 4096;
  std::vector<double> weights(local.size()), advantages(local.size());

  // The three parts alone, to show where the time goes.
  const double accumulate_seconds = median_seconds(communicator, repeats * 10, [&] {
    deltarl::StepStatistics stats(groups, config.alpha);
    for (const auto& s : local) stats.add_sample(s.group, s.length, s.reward);
  });
  deltarl::StepStatistics reduced(groups, config.alpha);
  for (const auto& s : local) reduced.add_sample(s.group, s.length, s.reward);
  reduced.all_reduce(communicator);
  torch::Tensor packed = torch::zeros({4 * groups + 1}, torch::kFloat64);
  const double reduce_seconds = median_seconds(communicator, repeats * 10, [&] {
    communicator.all_reduce_sum(packed);
  });
  const double weigh_seconds = median_seconds(communicator, repeats * 10, [&] {
    const deltarl::LossWeightTable weight_of(config, reduced);
    const deltarl::AdvantageTable advantage_of(deltarl::AdvantageEstimator::kGrpo, reduced);
    for (size_t i = 0; i < local.size(); ++i) {
      weights[i] = weight_of(local[i].group, local[i].length);
      advantages[i] = advantage_of(local[i].group, local[i].reward);
    }
  });

  const double statistics_seconds = median_seconds(communicator, repeats * 10, [&] {
    deltarl::StepStatistics stats(groups, config.alpha);
    for (const auto& s : local) stats.add_sample(s.group, s.length, s.reward);
    stats.all_reduce(communicator);
    const deltarl::LossWeightTable weight_of(config, stats);
    const deltarl::AdvantageTable advantage_of(deltarl::AdvantageEstimator::kGrpo, stats);
    for (size_t i = 0; i < local.size(); ++i) {
      weights[i] = weight_of(local[i].group, local[i].length);
      advantages[i] = advantage_of(local[i].group, local[i].reward);
    }
  });

  // A 10M-parameter model's gradients: a transformer-like mix of shapes.
  std::vector<torch::Tensor> gradients;
  int64_t remaining = parameters;
  const int64_t shapes[][2] = {{1024, 1024}, {1024, 2816}, {1024, 1}, {4096, 64}};
  for (int i = 0; remaining > 0; ++i) {
    const auto* shape = shapes[i % 4];
    const int64_t rows = std::min<int64_t>(shape[0], std::max<int64_t>(1, remaining / shape[1]));
    const int64_t columns = std::min<int64_t>(shape[1], remaining);
    gradients.push_back(torch::randn({rows, columns}));
    remaining -= rows * columns;
  }
  const double gradient_seconds = median_seconds(communicator, repeats, [&] {
    communicator.all_reduce_sum(gradients);
  });

  if (rank == 0) {
    std::printf("aggregation_allreduce_bench: %d ranks, %lld groups x %lld samples, %lld-parameter gradient, "
                "median of %d (slowest rank)\n",
                world, static_cast<long long>(groups), static_cast<long long>(group_size),
                static_cast<long long>(parameters), repeats);
    std::printf("  accumulate local statistics                    : %10.3f ms\n", accumulate_seconds * 1e3);
    std::printf("  statistics all-reduce (%5lld doubles)          : %10.3f ms\n",
                static_cast<long long>(4 * groups + 1), reduce_seconds * 1e3);
    std::printf("  weights + advantages of local samples          : %10.3f ms\n", weigh_seconds * 1e3);
    std::printf("  statistics + all-reduce + weights + advantages : %10.3f ms\n", statistics_seconds * 1e3);
    std::printf("  gradient all-reduce (reference)                : %10.3f ms\n", gradient_seconds * 1e3);
    std::printf("  ratio                                          : %10.3f %%\n",
                100.0 * statistics_seconds / gradient_seconds);
  }
  return 0;
}

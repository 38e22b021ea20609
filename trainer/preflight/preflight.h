// Preflight: checks, in seconds and before a cluster job spends its allocation
// on loading models, that the learner ranks of a `deltarl train` launch can run
// it together. Run it with the same launcher, ranks and config as the job:
//
//   srun --mpi=pmix deltarl preflight --config run.yaml   (or mpirun ... / one process)
//
// Every rank gathers facts about its host (build, MPI library, GPUs, NCCL,
// files it must read) and the first rank of each host asks every configured
// rollout worker for its status; all ranks then judge the same facts, so they
// agree on the verdict (and exit code). Problems found, each with the rank or
// host and a likely cause:
//   - the MPI library at run time is another Open MPI major version than the one
//     deltarl was built against (MPICH-family builds are not checked), or
//     the launcher started independent singletons (srun without --mpi=pmix);
//   - hosts run different deltarl builds, LibTorch or MPI versions (workers too);
//   - GPU hosts without NCCL in this build, more ranks than GPUs on a host,
//     train.device: cuda on a host without GPUs;
//   - model, data or eval files missing on a host (no shared file system?);
//   - workers unreachable from a host, refusing the token, or serving a model
//     whose vocabulary differs from the learners';
//   - on CPU learners, a memory plan (memory_plan.h) over the host's memory
//     divided by its ranks, with the settings that would make it fit.
#pragma once

#include <string>
#include <vector>

#include "trainer/comm/mpi_environment.h"
#include "trainer/run/training_config.h"

namespace deltarl {

struct PreflightOptions {
  double worker_timeout_seconds = 10;  // per worker GetStatus
};

struct PreflightReport {
  std::string table;                  // hosts, ranks, builds, workers: for the console
  std::vector<std::string> problems;  // empty when the job can start
  bool ok() const { return problems.empty(); }
};

// Collective over MPI_COMM_WORLD; every rank returns the same report.
PreflightReport run_preflight(const TrainingConfig& config, const MpiEnvironment& mpi,
                              const PreflightOptions& options = {});

}  // namespace deltarl

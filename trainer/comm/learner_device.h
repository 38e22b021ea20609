// The device a learner rank trains on, and the communicator for its tensors.
//
//   torch::Device device = choose_learner_device(config.train.device, local_rank, host);  // collective
//   std::unique_ptr<Communicator> nccl = make_device_communicator(host, device);         // collective
#pragma once

#include <memory>
#include <string>

#include <torch/types.h>

#include "trainer/comm/communicator.h"
#include "trainer/comm/mpi_communicator.h"

namespace deltarl {

// `wanted` is train.device: "cpu", "cuda" or "auto" (CUDA when LibTorch sees
// a GPU). A CUDA rank takes GPU local_rank mod the host's GPUs. Collective over
// `host`: throws InputError on every rank when one asked for CUDA and has none,
// or when the ranks did not all choose alike (mixed GPU and CPU nodes).
torch::Device choose_learner_device(const std::string& wanted, int local_rank, Communicator& host);

// Null for a CPU device (the host communicator carries its tensors); an
// NcclCommunicator for CUDA (a single-process one for one rank without NCCL;
// InputError for several). Collective over `host` (NCCL's set-up).
std::unique_ptr<Communicator> make_device_communicator(MpiCommunicator& host, torch::Device device);

}  // namespace deltarl

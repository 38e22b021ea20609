#include "trainer/comm/learner_device.h"

#include <torch/torch.h>

#include "core/input_error.h"
#include "trainer/comm/agreement.h"
#include "trainer/comm/single_process_communicator.h"
#ifdef DELTARL_HAVE_NCCL
#include "trainer/comm/nccl_communicator.h"
#endif

namespace deltarl {

torch::Device choose_learner_device(const std::string& wanted, int local_rank, Communicator& host) {
  torch::Device device = torch::kCPU;
  agree_or_throw(host, "choosing the device", [&] {
    const bool cuda = torch::cuda::is_available();
    if (wanted == "cuda" && !cuda) {
      throw InputError("train.device is cuda, but LibTorch sees no CUDA device (a CPU build, or no GPU here?)");
    }
    if (wanted == "cpu" || !cuda) return;
    const auto devices = static_cast<int>(torch::cuda::device_count());
    device = torch::Device(torch::kCUDA, static_cast<torch::DeviceIndex>(local_rank % devices));
  });
  torch::Tensor cuda_ranks = torch::tensor({device.is_cuda() ? 1.0 : 0.0}, torch::kFloat64);
  host.all_reduce_sum(cuda_ranks);
  const double count = cuda_ranks.item<double>();
  if (count != 0 && count != host.world_size()) {
    throw InputError("train.device: only " + std::to_string(static_cast<int>(count)) + " of " +
                     std::to_string(host.world_size()) +
                     " ranks see a CUDA device (mixed GPU/CPU nodes?); set train.device");
  }
  return device;
}

std::unique_ptr<Communicator> make_device_communicator(MpiCommunicator& host, torch::Device device) {
  if (device.is_cpu()) return nullptr;
#ifdef DELTARL_HAVE_NCCL
  return std::make_unique<NcclCommunicator>(host, device.index());
#else
  if (host.world_size() == 1) return std::make_unique<SingleProcessCommunicator>(device);
  throw InputError("train.device resolves to CUDA with " + std::to_string(host.world_size()) +
                   " ranks, but this deltarl was built without NCCL (DELTARL_WITH_NCCL)");
#endif
}

}  // namespace deltarl

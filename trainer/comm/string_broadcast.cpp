#include "trainer/comm/string_broadcast.h"

#include <algorithm>

#include <torch/torch.h>

namespace deltarl {

std::string broadcast_string(Communicator& host, const std::string& text) {
  torch::Tensor length = torch::tensor({static_cast<int64_t>(text.size())}, torch::kInt64);
  host.broadcast(length, /*root=*/0);
  torch::Tensor bytes = torch::zeros({std::max<int64_t>(length.item<int64_t>(), 1)}, torch::kUInt8);
  if (host.rank() == 0) std::copy(text.begin(), text.end(), bytes.data_ptr<uint8_t>());
  host.broadcast(bytes, /*root=*/0);
  return std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), length.item<int64_t>());
}

}  // namespace deltarl

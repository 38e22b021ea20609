#include "trainer/comm/agreement.h"

#include <stdexcept>

#include <torch/torch.h>

#include "core/input_error.h"

namespace deltarl {

namespace {

bool is_input_error(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const InputError&) {
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

std::string AgreedFailure::describe(const std::string& what) const {
  return what + " failed on rank " + std::to_string(first_failed_rank) + " (see that rank's message)";
}

AgreedFailure agree_on_failure(Communicator& host, bool failed_here, bool input_error_here) {
  const torch::Tensor mine =
      torch::tensor({failed_here ? 1.0 : 0.0, input_error_here ? 1.0 : 0.0}, torch::kFloat64);
  const torch::Tensor all = host.all_gather(mine);  // (world, 2)
  AgreedFailure agreed;
  for (int rank = 0; rank < all.size(0); ++rank) {
    if (all[rank][0].item<double>() == 0) continue;
    if (agreed.first_failed_rank < 0) agreed.first_failed_rank = rank;
    agreed.input_error = agreed.input_error || all[rank][1].item<double>() != 0;
  }
  return agreed;
}

void rethrow_agreed(Communicator& host, const std::string& what, std::exception_ptr error) {
  const AgreedFailure agreed = agree_on_failure(host, error != nullptr, error && is_input_error(error));
  if (error) std::rethrow_exception(error);
  if (!agreed.any()) return;
  if (agreed.input_error) throw InputError(agreed.describe(what));
  throw std::runtime_error(agreed.describe(what));
}

}  // namespace deltarl

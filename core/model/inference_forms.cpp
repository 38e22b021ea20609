#include "core/model/inference_forms.h"

#include <torch/torch.h>

namespace deltarl {

const char* linear_form_name(LinearForm form) {
  switch (form) {
    case LinearForm::kTraining:
      return "training";
    case LinearForm::kFused:
      return "fused";
    case LinearForm::kPacked:
      return "packed";
  }
  return "unknown";
}

ParameterSnapshot::ParameterSnapshot(const std::vector<torch::Tensor>& parameters) {
  seen_.reserve(parameters.size());
  for (const torch::Tensor& parameter : parameters) {
    seen_.push_back({parameter, parameter.storage(), parameter.data_ptr(), parameter._version(), parameter.sizes().vec()});
  }
}

bool ParameterSnapshot::unchanged() const {
  for (const Seen& seen : seen_) {
    const torch::Tensor& now = seen.parameter;
    if (now.storage().unsafeGetStorageImpl() != seen.storage.unsafeGetStorageImpl() || now.data_ptr() != seen.data ||
        now._version() != seen.version || now.sizes() != seen.sizes) {
      return false;
    }
  }
  return true;
}

}  // namespace deltarl

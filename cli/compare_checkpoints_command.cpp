#include "cli/compare_checkpoints_command.h"

#include <cstdio>
#include <iostream>
#include <memory>

#include <torch/torch.h>

#include "core/input_error.h"
#include "core/model/hf_checkpoint.h"

namespace deltarl {

void register_compare_checkpoints_command(CLI::App& app, Status* status) {
  struct Options {
    std::string first, second;
    double tolerance = 0;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("compare-checkpoints", "Compare the weights of two checkpoint folders");
  command->add_option("first", options->first, "checkpoint folder A")->required();
  command->add_option("second", options->second, "checkpoint folder B (the reference of the relative error)")
      ->required();
  command->add_option("--tolerance", options->tolerance, "largest relative error accepted (0: bit-identical)")
      ->capture_default_str();
  command->callback([options, status] {
    try {
      const HfCheckpoint first(options->first), second(options->second);
      if (first.names() != second.names()) {
        throw InputError(options->first + " and " + options->second + " do not hold the same tensor names");
      }
      double worst = 0, worst_elementwise = 0;
      std::string worst_name, worst_elementwise_name;
      bool identical = true;
      for (const auto& name : first.names()) {
        const torch::Tensor a = first.tensor(name), b = second.tensor(name);
        if (a.sizes() != b.sizes() || a.scalar_type() != b.scalar_type()) {
          throw InputError("tensor \"" + name + "\" differs in shape or dtype between the folders");
        }
        identical = identical && torch::equal(a, b);
        const torch::Tensor a64 = a.to(torch::kFloat64), b64 = b.to(torch::kFloat64);
        const double norm = b64.norm().item<double>();
        const double difference_norm = (a64 - b64).norm().item<double>();
        const double relative = norm > 0 ? difference_norm / norm : difference_norm;
        if (relative > worst || worst_name.empty()) worst = relative, worst_name = name;
        const double scale = b64.abs().max().item<double>();
        const double difference = (a64 - b64).abs().max().item<double>();
        const double elementwise = scale > 0 ? difference / scale : difference;
        if (elementwise > worst_elementwise || worst_elementwise_name.empty()) {
          worst_elementwise = elementwise, worst_elementwise_name = name;
        }
      }
      char line[512];
      std::snprintf(line, sizeof(line),
                    "%zu tensors, %s; largest relative error |a-b|/|b| %.3g (%s); largest max|a-b|/max|b| %.3g (%s)\n",
                    first.names().size(), identical ? "bit-identical" : "not identical", worst, worst_name.c_str(),
                    worst_elementwise, worst_elementwise_name.c_str());
      std::cout << line;
      const bool within = options->tolerance == 0 ? identical : worst <= options->tolerance;
      *status = within ? Status() : Status(StatusCode::kInternal, "the checkpoints differ beyond the tolerance");
    } catch (const InputError& error) {
      *status = Status(StatusCode::kInvalidArgument, error.what());
    }
  });
}

}  // namespace deltarl

#include "cli/compare_checkpoints_command.h"

#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>

#include <torch/torch.h>

#include "core/file_system.h"
#include "core/input_error.h"
#include "core/model/hf_checkpoint.h"
#include "core/safetensors.h"

namespace deltarl {

namespace {

struct CompareOptions {
  std::string first, second;
  double tolerance = 0;
  std::string tensors = "weights";
  std::string norm = "per-tensor";
  std::string from;  // compare the updates a − from and b − from; "" compares a and b
};

using NamedTensors = std::map<std::string, torch::Tensor>;

NamedTensors read_weights(const std::string& folder) {
  const HfCheckpoint checkpoint(folder);
  NamedTensors tensors;
  for (const auto& name : checkpoint.names()) tensors[name] = checkpoint.tensor(name);  // views keep their mapping
  return tensors;
}

NamedTensors read_first_moment(const std::string& folder) {
  const std::string path = join_path(folder, "optimizer.safetensors");
  if (!path_exists(path)) throw InputError(path + " does not exist: is " + folder + " a training checkpoint?");
  const SafetensorsFile file(path);
  NamedTensors tensors;
  const std::string prefix = "exp_avg.";
  for (const auto& [name, entry] : file.entries()) {
    if (name.compare(0, prefix.size(), prefix) == 0) tensors[name] = file.tensor(name);
  }
  if (tensors.empty()) throw InputError(path + " holds no AdamW first moment (exp_avg.*)");
  return tensors;
}

Status compare(const CompareOptions& options) {
  const bool first_moment = options.tensors == "first-moment";
  NamedTensors first = first_moment ? read_first_moment(options.first) : read_weights(options.first);
  NamedTensors second = first_moment ? read_first_moment(options.second) : read_weights(options.second);
  if (!options.from.empty()) {
    // The updates from a shared start: rounding then counts against the size of
    // what training changed, not against the weights themselves.
    if (first_moment) throw InputError("--from compares weights: it cannot be used with --tensors first-moment");
    const NamedTensors start = read_weights(options.from);
    for (auto* side : {&first, &second}) {
      for (auto& [name, tensor] : *side) {
        const auto found = start.find(name);
        if (found == start.end() || found->second.sizes() != tensor.sizes()) {
          throw InputError(options.from + " does not hold tensor \"" + name + "\" as the checkpoints do");
        }
        tensor = tensor.to(torch::kFloat64) - found->second.to(torch::kFloat64);
      }
    }
  }
  for (const auto* side : {&first, &second}) {
    const NamedTensors& other = side == &first ? second : first;
    for (const auto& [name, tensor] : *side) {
      if (other.count(name) == 0) {
        throw InputError(options.first + " and " + options.second + " do not hold the same tensors (\"" + name +
                         "\" is in one only)");
      }
    }
  }
  double worst = 0, worst_elementwise = 0, difference_square = 0, reference_square = 0;
  std::string worst_name, worst_elementwise_name;
  bool identical = true;
  for (const auto& [name, a] : first) {
    const torch::Tensor& b = second.at(name);
    if (a.sizes() != b.sizes() || a.scalar_type() != b.scalar_type()) {
      throw InputError("tensor \"" + name + "\" differs in shape or dtype between the folders");
    }
    identical = identical && torch::equal(a, b);
    const torch::Tensor a64 = a.to(torch::kFloat64), b64 = b.to(torch::kFloat64);
    const double norm = b64.norm().item<double>();
    const double difference_norm = (a64 - b64).norm().item<double>();
    difference_square += difference_norm * difference_norm;
    reference_square += norm * norm;
    const double relative = norm > 0 ? difference_norm / norm : difference_norm;
    if (relative > worst || worst_name.empty()) worst = relative, worst_name = name;
    const double scale = b64.abs().max().item<double>();
    const double difference = (a64 - b64).abs().max().item<double>();
    const double elementwise = scale > 0 ? difference / scale : difference;
    if (elementwise > worst_elementwise || worst_elementwise_name.empty()) {
      worst_elementwise = elementwise, worst_elementwise_name = name;
    }
  }
  const double whole = reference_square > 0 ? std::sqrt(difference_square / reference_square)
                                            : std::sqrt(difference_square);
  char line[768];
  std::snprintf(line, sizeof(line),
                "%zu %s tensors, %s; largest relative error |a-b|/|b| %.3g (%s); largest max|a-b|/max|b| %.3g (%s); "
                "all tensors together %.3g\n",
                first.size(), options.tensors.c_str(), identical ? "bit-identical" : "not identical", worst,
                worst_name.c_str(), worst_elementwise, worst_elementwise_name.c_str(), whole);
  std::cout << line;
  const double measured = options.norm == "whole" ? whole : worst;
  const bool within = options.tolerance == 0 ? identical : measured <= options.tolerance;
  return within ? Status() : Status(StatusCode::kInternal, "the checkpoints differ beyond the tolerance");
}

}  // namespace

void register_compare_checkpoints_command(CLI::App& app, Status* status) {
  auto options = std::make_shared<CompareOptions>();
  CLI::App* command = app.add_subcommand("compare-checkpoints", "Compare the weights of two checkpoint folders");
  command->add_option("first", options->first, "checkpoint folder A")->required();
  command->add_option("second", options->second, "checkpoint folder B (the reference of the relative error)")
      ->required();
  command->add_option("--tolerance", options->tolerance, "largest relative error accepted (0: bit-identical)")
      ->capture_default_str();
  command->add_option("--tensors", options->tensors,
                      "weights, or first-moment (AdamW's exp_avg: an average of the reduced gradients)")
      ->check(CLI::IsMember({"weights", "first-moment"}))
      ->capture_default_str();
  command->add_option("--norm", options->norm, "per-tensor, or whole (all tensors as one vector)")
      ->check(CLI::IsMember({"per-tensor", "whole"}))
      ->capture_default_str();
  command->add_option("--from", options->from,
                      "a model or checkpoint both started from: compare the updates A − START and B − START");
  command->callback([options, status] {
    try {
      *status = compare(*options);
    } catch (const InputError& error) {
      *status = Status(StatusCode::kInvalidArgument, error.what());
    }
  });
}

}  // namespace deltarl

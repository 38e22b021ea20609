#include "cli/weights_command.h"

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <vector>

#include "cli/jsonl_filter.h"
#include "core/input_error.h"
#include "core/jsonl_reader.h"
#include "core/log.h"
#include "trainer/algorithm/loss_aggregation.h"
#include "trainer/comm/single_process_communicator.h"
#include "trainer/algorithm/step_statistics.h"

namespace deltarl {

namespace {

struct ParsedSample {
  Json line;
  int64_t group = 0;  // dense index, in order of first appearance
  int64_t length = 0;
};

int64_t parse_length(const Json& object, const std::string& where) {
  auto it = object.find("length");
  if (it == object.end()) throw InputError(where + ": missing field \"length\"");
  if (!it->is_number()) {
    throw InputError(where + ": field \"length\" must be a number of tokens, got " +
                     std::string(it->type_name()) + " " + it->dump());
  }
  const int64_t length = required_integer(object, "length", where);
  if (length < 0) throw InputError(where + ": field \"length\" is negative (" + it->dump() + ")");
  if (length == 0) {
    throw InputError(where + ": field \"length\" is 0: a sample with zero valid tokens has no "
                     "per-token loss to weight (drop it, or check the response mask)");
  }
  return length;
}

std::string group_key(const Json& object, const std::string& where) {
  auto it = object.find("group");
  if (it == object.end()) throw InputError(where + ": missing field \"group\"");
  if (it->is_string()) return "s:" + it->get<std::string>();
  if (it->is_number_integer()) return "i:" + it->dump();
  throw InputError(where + ": field \"group\" must be an integer or a string, got " +
                   std::string(it->type_name()) + " " + it->dump());
}

}  // namespace

Status compute_weights(const WeightsOptions& options, std::istream& input,
                       const std::string& source_name, std::ostream& output) {
  try {
    AggregationConfig config;
    config.mode = parse_aggregation_mode(options.mode);
    config.alpha = options.alpha;
    config.scope = parse_delta_l_scope(options.scope);

    JsonlReader reader(input, source_name);
    std::vector<ParsedSample> samples;
    std::map<std::string, int64_t> group_index;
    int64_t longest = 0;
    while (auto line = reader.next()) {
      ParsedSample sample;
      const std::string where = reader.where();
      const std::string key = group_key(line->value, where);
      sample.length = parse_length(line->value, where);
      auto [it, inserted] = group_index.emplace(key, static_cast<int64_t>(group_index.size()));
      sample.group = it->second;
      sample.line = std::move(line->value);
      longest = std::max(longest, sample.length);
      samples.push_back(std::move(sample));
    }
    if (samples.empty()) {
      throw InputError(source_name + ": no samples; expected JSONL lines like "
                       "{\"group\": 0, \"length\": 120}");
    }
    config.max_response_length =
        options.max_response_length ? *options.max_response_length : static_cast<double>(longest);
    config.validate();
    if (config.uses_max_response_length() && config.max_response_length < longest) {
      log_warning("M = " + std::to_string(config.max_response_length) + " is shorter than the longest sample (" +
                  std::to_string(longest) + " tokens); M is meant to be the maximum response length");
    }

    SingleProcessCommunicator communicator;
    StepStatistics stats(static_cast<int64_t>(group_index.size()), config.alpha);
    for (const auto& sample : samples) stats.add_sample(sample.group, sample.length, /*reward=*/0.0);
    stats.all_reduce(communicator);
    for (auto& sample : samples) {
      sample.line["weight"] = sample_weight(config, stats, sample.group, sample.length);
      output << sample.line.dump() << '\n';
    }
    if (!output) return Status(StatusCode::kInternal, "writing the output failed");
    return Status();
  } catch (const InputError& error) {
    return Status(StatusCode::kInvalidArgument, error.what());
  }
}

void register_weights_command(CLI::App& app, Status* status) {
  auto options = std::make_shared<WeightsOptions>();
  CLI::App* command = app.add_subcommand(
      "weights", "Per-sample loss weights of an aggregation mode for JSONL {group, length} lines");
  command->add_option("input", options->input_path, "JSONL file, or - for stdin")->capture_default_str();
  command->add_option("--mode", options->mode,
                      "delta-l | seq-mean-token-mean | token-mean | seq-mean-token-sum-norm | "
                      "seq-mean-token-sum")->capture_default_str();
  command->add_option("--alpha", options->alpha, "delta-l exponent (>= 0)")->capture_default_str();
  command->add_option("--max-len", options->max_response_length,
                      "M, the max response length (default: the longest sample)");
  command->add_option("--scope", options->scope, "delta-l normalization: group | batch")
      ->capture_default_str();
  command->add_option("-o,--output", options->output_path, "output file, or - for stdout")
      ->capture_default_str();
  command->callback([options, status] {
    *status = run_jsonl_filter(options->input_path, options->output_path,
                               [&](std::istream& input, const std::string& source, std::ostream& output) {
                                 return compute_weights(*options, input, source, output);
                               });
  });
}

}  // namespace deltarl

// `deltarl weights`: shows the per-sample weight of an aggregation mode for a
// step made of exactly the given samples, so users can inspect a mode before
// training. Reads JSONL lines {"group": g, "length": L, ...} (g an integer or a
// string; L the sample's valid token count) and writes each line back with
// "weight" added, keys in their original order.
#pragma once

#include <istream>
#include <optional>
#include <ostream>
#include <string>

#include <CLI/CLI.hpp>

#include "core/status.h"
#include "trainer/algorithm/aggregation_config.h"

namespace deltarl {

struct WeightsOptions {
  std::string mode = "delta-l";
  double alpha = 1.0;
  std::optional<double> max_response_length;  // M; default: the longest length in the input
  std::string scope = "group";
  std::string input_path = "-";                // "-" is stdin
  std::string output_path = "-";               // "-" is stdout; a file is written atomically
};

// Adds the subcommand to `app`; when it is chosen, `*status` receives its result.
void register_weights_command(CLI::App& app, Status* status);

// The command's work on streams. Writes nothing to `output` unless every input
// line is valid; errors name "<source_name>:<line>" and the field.
Status compute_weights(const WeightsOptions& options, std::istream& input,
                       const std::string& source_name, std::ostream& output);

}  // namespace deltarl

// run_jsonl_filter(): the input/output plumbing of the JSONL-in, JSONL-out
// commands (weights, reward): read a file or stdin ("-"), write stdout ("-") or
// a file atomically, committed only when `transform` succeeds, so a failed run
// leaves an existing output file untouched.
#pragma once

#include <functional>
#include <istream>
#include <ostream>
#include <string>

#include "core/status.h"

namespace deltarl {

using JsonlTransform = std::function<Status(std::istream& input, const std::string& source_name, std::ostream& output)>;

Status run_jsonl_filter(const std::string& input_path, const std::string& output_path, const JsonlTransform& transform);

}  // namespace deltarl

#include "cli/jsonl_filter.h"

#include <fstream>
#include <iostream>
#include <stdexcept>

#include "core/atomic_file_writer.h"

namespace deltarl {

Status run_jsonl_filter(const std::string& input_path, const std::string& output_path, const JsonlTransform& transform) {
  std::ifstream file;
  std::istream* input = &std::cin;
  std::string source = "<stdin>";
  if (input_path != "-") {
    file.open(input_path);
    if (!file) return Status(StatusCode::kNotFound, "cannot open input \"" + input_path + "\"");
    input = &file;
    source = input_path;
  }
  if (output_path == "-") return transform(*input, source, std::cout);
  try {
    AtomicFileWriter writer(output_path);
    const Status status = transform(*input, source, writer.stream());
    if (status.ok()) writer.commit();
    return status;
  } catch (const std::runtime_error& error) {
    return Status(StatusCode::kInvalidArgument, error.what());
  }
}

}  // namespace deltarl

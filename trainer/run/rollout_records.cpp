#include "trainer/run/rollout_records.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <utility>

#include "core/atomic_file_writer.h"
#include "core/file_system.h"
#include "core/input_error.h"
#include "core/json_input.h"
#include "core/jsonl_reader.h"

namespace deltarl {

namespace {

// JSON readers (nlohmann's included) parse every number as a double. The
// shortest text of a float reads back through a double to the same float
// unless the double lands on a tie between two floats; then the float's own
// value, as a double, is written instead, which reads back exactly.
void append_number(std::string& out, float value) {
  if (value == 0 && std::signbit(value)) {  // "-0" would read as the integer 0
    out += "-0.0";
    return;
  }
  char text[64];
  const auto [end, error] = std::to_chars(text, text + sizeof(text), value);
  *end = '\0';
  if (static_cast<float>(std::strtod(text, nullptr)) == value) {
    out.append(text, end);
    return;
  }
  const auto [exact_end, exact_error] = std::to_chars(text, text + sizeof(text), static_cast<double>(value));
  out.append(text, exact_end);
}

void append_number(std::string& out, double value) {
  if (value == 0 && std::signbit(value)) {
    out += "-0.0";
    return;
  }
  char text[64];
  const auto [end, error] = std::to_chars(text, text + sizeof(text), value);  // shortest, round-trips
  out.append(text, end);
}

template <typename T>
void append_list(std::string& out, const std::vector<T>& values) {
  out += '[';
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    if constexpr (std::is_floating_point_v<T>) {
      append_number(out, values[i]);
    } else {
      out += std::to_string(values[i]);
    }
  }
  out += ']';
}

std::string sample_name(int64_t step, const RolloutSample& sample) {
  return "step " + std::to_string(step) + ", group " + std::to_string(sample.group) + ", sample " +
         std::to_string(sample.sample_index);
}

// Field access for one line; every message names "<path>:<line>" and the field.
class LineFields {
 public:
  LineFields(const Json& line, std::string where) : line_(line), where_(std::move(where)) {}

  template <typename T>
  T required(const char* field) const {
    const std::optional<T> value = json_field<T>(line_, field, where_);
    if (!value) throw InputError(where_ + ": missing field \"" + field + "\"" + kFieldsHint);
    return *value;
  }

  int64_t integer_at_least(const char* field, int64_t minimum, int64_t maximum) const {
    const int64_t value = required<int64_t>(field);
    if (value < minimum || value > maximum) {
      throw InputError(where_ + ": field \"" + field + "\" is " + std::to_string(value) + ", outside [" +
                       std::to_string(minimum) + ", " + std::to_string(maximum) + "]");
    }
    return value;
  }

  std::vector<int32_t> token_ids(const char* field) const {
    const Json& list = list_field(field, "a non-empty list of token ids (integers ≥ 0)");
    std::vector<int32_t> ids;
    ids.reserve(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      const Json& item = list[i];
      if (!item.is_number_integer() ||
          (!item.is_number_unsigned() && item.get<int64_t>() < 0) ||
          (item.is_number_unsigned() && item.get<uint64_t>() > uint64_t{std::numeric_limits<int32_t>::max()})) {
        throw InputError(where_ + ": field \"" + field + "\" item " + std::to_string(i) + " is " +
                         item.dump().substr(0, 80) + ", not a token id (an integer in [0, 2^31))");
      }
      ids.push_back(static_cast<int32_t>(item.get<int64_t>()));
    }
    return ids;
  }

  std::vector<float> log_probs(const char* field) const {
    const Json& list = list_field(field, "a list of log-probs (numbers), one per response token");
    std::vector<float> values;
    values.reserve(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      const Json& item = list[i];
      const float value = item.is_number() ? static_cast<float>(item.get<double>()) : NAN;
      if (!std::isfinite(value)) {
        throw InputError(where_ + ": field \"" + field + "\" item " + std::to_string(i) + " is " +
                         item.dump().substr(0, 80) + ", not a finite float");
      }
      values.push_back(value);
    }
    return values;
  }

  const std::string& where() const { return where_; }

 private:
  static constexpr const char* kFieldsHint =
      " (each line needs step, group, sample_index, prompt_ids, response_ids, rollout_log_probs, reward, correct, "
      "truncated, policy_version; docs/training.md, \"Recorded rollouts\")";

  const Json& list_field(const char* field, const char* expected) const {
    const auto it = line_.find(field);
    if (it == line_.end() || it->is_null()) {
      throw InputError(where_ + ": missing field \"" + field + "\"" + kFieldsHint);
    }
    if (!it->is_array() || it->empty()) {
      throw InputError(where_ + ": field \"" + field + "\" must be " + expected + ", got " +
                       it->dump().substr(0, 80));
    }
    return *it;
  }

  const Json& line_;
  std::string where_;
};

}  // namespace

void write_rollout_records(const std::string& path, int64_t step, const std::vector<RolloutSample>& samples) {
  AtomicFileWriter file(path);
  std::string line;
  for (const RolloutSample& sample : samples) {
    if (sample.response_ids.empty() || sample.rollout_log_probs.size() != sample.response_ids.size()) {
      throw InputError(path + ": " + sample_name(step, sample) + " has " +
                       std::to_string(sample.rollout_log_probs.size()) + " rollout log-probs for " +
                       std::to_string(sample.response_ids.size()) + " response tokens");
    }
    for (float log_prob : sample.rollout_log_probs) {
      if (!std::isfinite(log_prob)) {
        throw InputError(path + ": " + sample_name(step, sample) + " has a non-finite rollout log-prob");
      }
    }
    if (!std::isfinite(sample.reward)) {
      throw InputError(path + ": " + sample_name(step, sample) + " has a non-finite reward");
    }
    line = "{\"step\":" + std::to_string(step) + ",\"group\":" + std::to_string(sample.group) +
           ",\"sample_index\":" + std::to_string(sample.sample_index) + ",\"reward\":";
    append_number(line, sample.reward);
    line += std::string(",\"correct\":") + (sample.correct ? "true" : "false") +
            ",\"truncated\":" + (sample.truncated ? "true" : "false") +
            ",\"policy_version\":" + std::to_string(sample.policy_version) + ",\"prompt_ids\":";
    append_list(line, sample.prompt_ids);
    line += ",\"response_ids\":";
    append_list(line, sample.response_ids);
    line += ",\"rollout_log_probs\":";
    append_list(line, sample.rollout_log_probs);
    line += "}\n";
    file.stream() << line;
  }
  file.commit();
}

RolloutRecords read_rollout_records(const std::string& path) {
  std::ifstream input(path, std::ios::binary);
  if (!input) throw InputError("cannot open the rollouts file \"" + path + "\"");
  JsonlReader reader(input, path);
  RolloutRecords records;
  int64_t first_step_line = 0;
  std::set<std::pair<int64_t, int32_t>> seen;
  int64_t max_group = -1;
  while (const std::optional<JsonlLine> line = reader.next()) {
    const LineFields fields(line->value, reader.where());
    const int64_t step = fields.integer_at_least("step", 1, std::numeric_limits<int64_t>::max());
    if (first_step_line == 0) {
      records.step = step;
      first_step_line = line->line_number;
    } else if (step != records.step) {
      throw InputError(fields.where() + ": field \"step\" is " + std::to_string(step) + ", but line " +
                       std::to_string(first_step_line) + " has step " + std::to_string(records.step) +
                       ": a rollouts file holds one step's samples");
    }
    RolloutSample sample;
    sample.group = fields.integer_at_least("group", 0, 1 << 30);
    sample.sample_index = static_cast<int32_t>(
        fields.integer_at_least("sample_index", 0, std::numeric_limits<int32_t>::max()));
    sample.prompt_ids = fields.token_ids("prompt_ids");
    sample.response_ids = fields.token_ids("response_ids");
    sample.rollout_log_probs = fields.log_probs("rollout_log_probs");
    if (sample.rollout_log_probs.size() != sample.response_ids.size()) {
      throw InputError(fields.where() + ": field \"rollout_log_probs\" has " +
                       std::to_string(sample.rollout_log_probs.size()) + " values for " +
                       std::to_string(sample.response_ids.size()) +
                       " response_ids (one log-prob per response token)");
    }
    sample.reward = fields.required<double>("reward");  // json_field refuses non-finite numbers
    sample.correct = fields.required<bool>("correct");
    sample.truncated = fields.required<bool>("truncated");
    sample.policy_version = fields.integer_at_least("policy_version", 0, std::numeric_limits<int64_t>::max());
    if (!seen.emplace(sample.group, sample.sample_index).second) {
      throw InputError(fields.where() + ": group " + std::to_string(sample.group) + " has sample_index " +
                       std::to_string(sample.sample_index) + " twice");
    }
    max_group = std::max(max_group, sample.group);
    records.samples.push_back(std::move(sample));
  }
  if (records.samples.empty()) throw InputError(path + ": no samples (an empty rollouts file)");
  std::vector<bool> has_samples(static_cast<size_t>(max_group + 1), false);
  for (const auto& sample : records.samples) has_samples[static_cast<size_t>(sample.group)] = true;
  for (int64_t group = 0; group <= max_group; ++group) {
    if (!has_samples[static_cast<size_t>(group)]) {
      throw InputError(path + ": group " + std::to_string(group) + " has no samples, but group " +
                       std::to_string(max_group) + " does: groups must be numbered 0 .. G-1, none empty");
    }
  }
  records.num_groups = max_group + 1;
  return records;
}

std::string step_rollouts_path(const std::string& run_folder, int64_t step) {
  return join_path(join_path(run_folder, "rollouts"), "step-" + std::to_string(step) + ".jsonl");
}

std::string save_step_rollouts(const std::string& run_folder, int64_t step, const std::vector<RolloutSample>& samples) {
  make_directories(join_path(run_folder, "rollouts"));
  const std::string path = step_rollouts_path(run_folder, step);
  write_rollout_records(path, step, samples);
  return path;
}

}  // namespace deltarl

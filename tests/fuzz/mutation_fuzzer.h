// Seeded mutation fuzzing of one parser (a "target"), built by the normal build:
// no libFuzzer, no instrumentation. Inputs are mutated valid seeds
// (tests/fuzz/mutator.h), each written to a file and handed to the parser in a
// forked child process, so that a crash, an abort or a hang is observed and
// attributed to one input instead of ending the run.
//
//   FuzzTarget target = ...;               // seeds, the parser, its named error
//   FuzzSummary summary = run_fuzz(target, options);
//   return summary.failures.empty() ? 0 : 1;
//
// Verdicts per input: accepted (the parser returned), rejected (it threw its
// named error: deltarl::InputError unless the target says otherwise), or a
// failure: any other exception, a signal (SIGSEGV, SIGABRT, ...), an exit, or
// no verdict within the per-input time limit. Every failing input is written
// to `findings_folder` and its path printed, to be committed as a regression.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/fuzz/mutator.h"

namespace deltarl::fuzz {

// Thrown by a target's own checks when the parser accepted an input but broke
// a promise it makes (e.g. a token id outside the vocabulary): a failure.
class BrokenPromise : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

struct FuzzTarget {
  std::string name;
  // The name each input is written under inside the work folder (parsers read
  // files, and some find their inputs by name: "config.json").
  std::string input_file_name;
  std::vector<std::string> seeds;       // valid inputs; the parser accepts each
  std::vector<std::string> dictionary;  // field names and keywords worth inserting
  // Runs the parser on the input at `input_path`. Returns when accepted; throws
  // the parser's named error when rejected.
  std::function<void(const std::string& input_path)> parse;
  // Whether an exception is the named error. Default: deltarl::InputError.
  std::function<bool(const std::exception&)> is_named_error;
  // Makes input `rng` describes, when the target frames its inputs itself
  // (e.g. a safetensors file whose header size follows its mutated header).
  // Default: mutator.mutate_seed(rng).
  std::function<std::string(const Mutator& mutator, Rng& rng)> make_input;
  size_t max_input_bytes = 4 << 20;
};

struct FuzzOptions {
  uint64_t seed = 1;
  int64_t iterations = 500;          // inputs to run; 0: until `seconds`
  double seconds = 0;                // stop after this long; 0: no limit
  double input_timeout_seconds = 10; // a parser taking longer on one input hangs
  uint64_t memory_limit_bytes = uint64_t{2} << 30;  // RLIMIT_DATA of the child
  int64_t inputs_per_child = 256;    // fork once per this many inputs
  std::string work_folder;           // where inputs are written (created)
  std::string findings_folder;       // where failing inputs are kept (created)
  bool verbose = false;              // print every rejection's message
};

struct FuzzFinding {
  int64_t index = 0;
  std::string kind;     // "exception", "signal", "exit", "timeout"
  std::string message;  // the exception's type and text, or the signal
  std::string saved_path;
};

struct FuzzSummary {
  int64_t inputs = 0;
  int64_t accepted = 0;
  int64_t rejected = 0;
  double seconds = 0;
  std::vector<FuzzFinding> failures;
};

// Runs `options.iterations` mutated inputs (the seeds themselves first, which
// must be accepted) and prints one line per failure and a summary line.
FuzzSummary run_fuzz(const FuzzTarget& target, const FuzzOptions& options);

// Runs the parser on existing files (committed regressions), each in its own
// child, with the same verdicts. Prints one line per file.
FuzzSummary replay_inputs(const FuzzTarget& target, const std::vector<std::string>& files,
                          const FuzzOptions& options);

}  // namespace deltarl::fuzz

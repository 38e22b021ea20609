// deltarl_fuzz: runs one fuzz target (tests/fuzz/fuzz_targets.h).
//
//   deltarl_fuzz --list
//   deltarl_fuzz TARGET [--iterations N] [--seconds S] [--seed K] [--timeout S]
//                       [--work DIR] [--findings DIR] [--regressions DIR] [--verbose]
//   deltarl_fuzz TARGET [--work DIR] --replay FILE...   (committed regressions; the files come last)
//
// Without --iterations it runs the target's bounded count (the suite's run).
// --regressions DIR replays every file in DIR first (the committed inputs).
// DELTARL_FUZZ_ITERATIONS, DELTARL_FUZZ_SECONDS and DELTARL_FUZZ_SEED override
// the defaults, so `ctest -L fuzz` can do a long run. Exit 0: no failures.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_targets.h"

namespace {

const char* kUsage =
    "usage: deltarl_fuzz --list\n"
    "       deltarl_fuzz TARGET [--iterations N] [--seconds S] [--seed K] [--timeout S] [--work DIR]\n"
    "                           [--findings DIR] [--regressions DIR] [--verbose]\n"
    "       deltarl_fuzz TARGET [--work DIR] --replay FILE...   (the files come last)\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace deltarl::fuzz;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  if (args[0] == "--list") {
    for (const auto& entry : fuzz_targets()) {
      std::cout << entry.name << "  (" << entry.bounded_iterations << " inputs)  " << entry.parser << "\n";
    }
    return 0;
  }
  const TargetEntry* entry = nullptr;
  for (const auto& candidate : fuzz_targets()) {
    if (candidate.name == args[0]) entry = &candidate;
  }
  if (entry == nullptr) {
    std::cerr << "deltarl_fuzz: unknown target \"" << args[0] << "\" (--list shows them)\n";
    return 2;
  }
  FuzzOptions options;
  options.iterations = entry->bounded_iterations;
  if (const char* value = std::getenv("DELTARL_FUZZ_ITERATIONS")) options.iterations = std::atoll(value);
  if (const char* value = std::getenv("DELTARL_FUZZ_SECONDS")) options.seconds = std::atof(value);
  if (const char* value = std::getenv("DELTARL_FUZZ_SEED")) options.seed = std::strtoull(value, nullptr, 10);
  // One folder per process: runs side by side (ctest -j, a long run beside the
  // suite) must not write each other's inputs. Removed after a clean run.
  options.work_folder = "fuzz-work/" + entry->name + "." + std::to_string(::getpid());
  options.findings_folder = "fuzz-findings";
  std::vector<std::string> replay;
  bool replaying = false;
  std::string regressions_folder;
  bool work_folder_given = false;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) {
        std::cerr << "deltarl_fuzz: " << arg << " needs a value\n" << kUsage;
        std::exit(2);
      }
      return args[++i];
    };
    if (replaying) {
      replay.push_back(arg);
    } else if (arg == "--iterations") {
      options.iterations = std::stoll(value());
    } else if (arg == "--seconds") {
      options.seconds = std::stod(value());
    } else if (arg == "--seed") {
      options.seed = std::stoull(value());
    } else if (arg == "--timeout") {
      options.input_timeout_seconds = std::stod(value());
    } else if (arg == "--work") {
      options.work_folder = value();
      work_folder_given = true;
    } else if (arg == "--findings") {
      options.findings_folder = value();
    } else if (arg == "--regressions") {
      regressions_folder = value();
    } else if (arg == "--verbose") {
      options.verbose = true;
    } else if (arg == "--replay") {
      replaying = true;
    } else {
      std::cerr << "deltarl_fuzz: unknown option " << arg << "\n" << kUsage;
      return 2;
    }
  }
  if (options.iterations <= 0 && options.seconds <= 0) {
    std::cerr << "deltarl_fuzz: give --iterations or --seconds\n";
    return 2;
  }
  options.work_folder = std::filesystem::absolute(options.work_folder).string();
  options.findings_folder = std::filesystem::absolute(options.findings_folder).string();
  const FuzzTarget target = entry->make(options.work_folder);
  for (auto& path : replay) path = std::filesystem::absolute(path).string();
  bool failed = false;
  if (replaying) failed |= !replay_inputs(target, replay, options).failures.empty();
  if (!regressions_folder.empty() && std::filesystem::is_directory(regressions_folder)) {
    std::vector<std::string> files;
    for (const auto& file : std::filesystem::directory_iterator(regressions_folder)) {
      if (file.is_regular_file()) files.push_back(std::filesystem::absolute(file.path()).string());
    }
    std::sort(files.begin(), files.end());
    if (!files.empty()) failed |= !replay_inputs(target, files, options).failures.empty();
  }
  if (!replaying) failed |= !run_fuzz(target, options).failures.empty();
  if (!failed && !work_folder_given) std::filesystem::remove_all(options.work_folder);
  return failed ? 1 : 0;
}

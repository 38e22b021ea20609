#include "tests/fuzz/mutation_fuzzer.h"

#include <cxxabi.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <typeinfo>

#include "core/input_error.h"

namespace deltarl::fuzz {

namespace {

enum class Verdict : int32_t { kAccepted = 0, kRejected = 1, kWrongException = 2 };

// What the child sends after each input: the index, the verdict, the message.
struct RecordHeader {
  int64_t index;
  Verdict verdict;
  uint32_t message_bytes;
};
constexpr uint32_t kMaxMessageBytes = 2000;

using Clock = std::chrono::steady_clock;

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot read " + path);
  std::ostringstream bytes;
  bytes << file.rdbuf();
  return bytes.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!file) throw std::runtime_error("cannot write " + path);
}

std::string demangled_type(const std::exception& error) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> name(
      abi::__cxa_demangle(typeid(error).name(), nullptr, nullptr, &status), &std::free);
  return status == 0 && name ? name.get() : typeid(error).name();
}

// Where input `index` comes from: the files replayed, the seeds as they are,
// then mutations.
class InputSource {
 public:
  InputSource(const FuzzTarget& target, const FuzzOptions& options, const std::vector<std::string>* files)
      : target_(target), options_(options), files_(files),
        mutator_(target.seeds, target.dictionary, target.max_input_bytes) {}

  std::string bytes(int64_t index) const {
    if (files_ != nullptr) return read_file((*files_)[static_cast<size_t>(index)]);
    if (index < static_cast<int64_t>(target_.seeds.size())) return target_.seeds[static_cast<size_t>(index)];
    Rng rng = input_rng(options_.seed, index);
    return target_.make_input ? target_.make_input(mutator_, rng) : mutator_.mutate_seed(rng);
  }
  bool is_seed(int64_t index) const {
    return files_ == nullptr && index < static_cast<int64_t>(target_.seeds.size());
  }

 private:
  const FuzzTarget& target_;
  const FuzzOptions& options_;
  const std::vector<std::string>* files_;
  Mutator mutator_;
};

bool write_all(int fd, const void* data, size_t size) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t written = ::write(fd, bytes, size);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    bytes += written;
    size -= static_cast<size_t>(written);
  }
  return true;
}

// The child: runs inputs [begin, end) and reports each; never returns.
[[noreturn]] void run_child(const FuzzTarget& target, const FuzzOptions& options, const InputSource& source,
                            int64_t begin, int64_t end, int report_fd) {
  rlimit limit{options.memory_limit_bytes, options.memory_limit_bytes};
  ::setrlimit(RLIMIT_DATA, &limit);
  // The parser's own logging goes to a file, so that the run's output stays readable.
  const std::string log_path = options.work_folder + "/child.log";
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (log_fd >= 0) {
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::close(log_fd);
  }
  const std::string input_path = options.work_folder + "/" + target.input_file_name;
  for (int64_t index = begin; index < end; ++index) {
    Verdict verdict = Verdict::kAccepted;
    std::string message;
    try {
      write_file(input_path, source.bytes(index));
      target.parse(input_path);
    } catch (const std::exception& error) {
      const bool named = target.is_named_error ? target.is_named_error(error)
                                               : dynamic_cast<const InputError*>(&error) != nullptr;
      verdict = named ? Verdict::kRejected : Verdict::kWrongException;
      message = named ? error.what() : demangled_type(error) + ": " + error.what();
    } catch (...) {
      verdict = Verdict::kWrongException;
      message = "an exception not derived from std::exception";
    }
    if (message.size() > kMaxMessageBytes) message.resize(kMaxMessageBytes);
    const RecordHeader header{index, verdict, static_cast<uint32_t>(message.size())};
    if (!write_all(report_fd, &header, sizeof(header)) || !write_all(report_fd, message.data(), message.size())) {
      ::_exit(3);
    }
  }
  std::fflush(stdout);
  ::_exit(0);
}

enum class ReadResult { kRecord, kTimeout, kEnd };

// Reads `size` bytes before `deadline`.
ReadResult read_exactly(int fd, void* data, size_t size, Clock::time_point deadline) {
  char* bytes = static_cast<char*>(data);
  while (size > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return ReadResult::kTimeout;
    pollfd descriptor{fd, POLLIN, 0};
    const int ready = ::poll(&descriptor, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) continue;
    const ssize_t got = ::read(fd, bytes, size);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return ReadResult::kEnd;
    bytes += got;
    size -= static_cast<size_t>(got);
  }
  return ReadResult::kRecord;
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) {
    const int signal_number = WTERMSIG(status);
    return "killed by signal " + std::to_string(signal_number) + " (" + strsignal(signal_number) + ")";
  }
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  return "stopped";
}

std::string log_tail(const std::string& path) {
  std::ifstream file(path);
  std::string line, tail;
  std::vector<std::string> lines;
  while (std::getline(file, line)) lines.push_back(line);
  for (size_t i = lines.size() > 4 ? lines.size() - 4 : 0; i < lines.size(); ++i) tail += "\n    | " + lines[i];
  return tail;
}

FuzzSummary run(const FuzzTarget& target, const FuzzOptions& options, const std::vector<std::string>* files) {
  namespace fs = std::filesystem;
  fs::create_directories(options.work_folder);
  if (!options.findings_folder.empty()) fs::create_directories(options.findings_folder);
  const InputSource source(target, options, files);
  const int64_t total = files != nullptr ? static_cast<int64_t>(files->size())
                        : options.iterations > 0 ? static_cast<int64_t>(target.seeds.size()) + options.iterations
                                                 : INT64_MAX;
  const auto started = Clock::now();
  const auto input_limit = std::chrono::milliseconds(static_cast<int64_t>(options.input_timeout_seconds * 1000));
  auto out_of_time = [&] {
    return options.seconds > 0 && Clock::now() - started > std::chrono::duration<double>(options.seconds);
  };
  FuzzSummary summary;
  auto fail = [&](int64_t index, const std::string& kind, const std::string& message) {
    FuzzFinding finding{index, kind, message, ""};
    if (files != nullptr) {
      finding.saved_path = (*files)[static_cast<size_t>(index)];
    } else {
      finding.saved_path = options.findings_folder + "/" + target.name + "-seed" + std::to_string(options.seed) +
                           "-input" + std::to_string(index);
      write_file(finding.saved_path, source.bytes(index));
    }
    std::cout << "fuzz " << target.name << ": FAIL " << (source.is_seed(index) ? "seed " : "input ") << index
              << ": " << kind << ": " << message << "\n  input: " << finding.saved_path << std::endl;
    summary.failures.push_back(std::move(finding));
  };

  int64_t next = 0;
  while (next < total && !out_of_time()) {
    const int64_t end = std::min(total, next + std::max<int64_t>(1, options.inputs_per_child));
    int report[2];
    if (::pipe(report) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    std::cout.flush();
    const pid_t child = ::fork();
    if (child < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (child == 0) {
      ::close(report[0]);
      run_child(target, options, source, next, end, report[1]);
    }
    ::close(report[1]);
    int64_t expected = next;
    bool child_gone = false;
    while (expected < end) {
      const auto deadline = Clock::now() + input_limit;
      RecordHeader header{};
      ReadResult result = read_exactly(report[0], &header, sizeof(header), deadline);
      std::string message;
      if (result == ReadResult::kRecord) {
        message.resize(header.message_bytes);
        result = read_exactly(report[0], message.data(), message.size(), deadline);
      }
      if (result == ReadResult::kTimeout) {
        ::kill(child, SIGKILL);
        ::waitpid(child, nullptr, 0);
        child_gone = true;
        fail(expected, "timeout", "no verdict within " + std::to_string(options.input_timeout_seconds) +
                                      " s (a hang?)");
        ++expected;
        break;
      }
      if (result == ReadResult::kEnd) {
        int status = 0;
        ::waitpid(child, &status, 0);
        child_gone = true;
        fail(expected, WIFSIGNALED(status) ? "signal" : "exit",
             describe_status(status) + log_tail(options.work_folder + "/child.log"));
        ++expected;
        break;
      }
      ++summary.inputs;
      if (header.verdict == Verdict::kAccepted) {
        ++summary.accepted;
      } else if (header.verdict == Verdict::kRejected) {
        ++summary.rejected;
        if (source.is_seed(expected)) fail(expected, "seed rejected", message);
        if (options.verbose) std::cout << "  rejected " << expected << ": " << message << "\n";
      } else {
        fail(expected, "exception", message);
      }
      ++expected;
      if (out_of_time()) break;
    }
    ::close(report[0]);
    if (!child_gone) {
      ::kill(child, SIGKILL);  // done, or out of time mid-batch
      ::waitpid(child, nullptr, 0);
    }
    next = expected;
  }
  // Inputs that ended in a signal, exit or timeout count as inputs too.
  for (const auto& finding : summary.failures) {
    if (finding.kind == "timeout" || finding.kind == "signal" || finding.kind == "exit") ++summary.inputs;
  }
  summary.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return summary;
}

}  // namespace

FuzzSummary run_fuzz(const FuzzTarget& target, const FuzzOptions& options) {
  FuzzSummary summary = run(target, options, nullptr);
  std::printf("fuzz %s: %lld inputs (%zu seeds + mutations, seed %llu) in %.1f s: %lld rejected cleanly, "
              "%lld accepted, %zu failures\n",
              target.name.c_str(), static_cast<long long>(summary.inputs), target.seeds.size(),
              static_cast<unsigned long long>(options.seed), summary.seconds, static_cast<long long>(summary.rejected),
              static_cast<long long>(summary.accepted), summary.failures.size());
  return summary;
}

FuzzSummary replay_inputs(const FuzzTarget& target, const std::vector<std::string>& files,
                          const FuzzOptions& options) {
  FuzzSummary summary = run(target, options, &files);
  std::printf("fuzz %s: replayed %lld files in %.1f s: %lld rejected cleanly, %lld accepted, %zu failures\n",
              target.name.c_str(), static_cast<long long>(summary.inputs), summary.seconds,
              static_cast<long long>(summary.rejected), static_cast<long long>(summary.accepted),
              summary.failures.size());
  return summary;
}

}  // namespace deltarl::fuzz

#include "trainer/rollout/local_worker_pool.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "core/file_system.h"

extern char** environ;

namespace deltarl {

namespace {

// fork + exec rather than posix_spawn: the child must ask for SIGTERM when the
// trainer dies, and only code running in the child can.
pid_t spawn_worker(const std::vector<std::string>& arguments, const std::vector<std::string>& environment,
                   const std::string& log_path) {
  std::vector<char*> argv, envp;
  for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  for (const auto& variable : environment) envp.push_back(const_cast<char*>(variable.c_str()));
  envp.push_back(nullptr);
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) throw std::runtime_error("cannot open the worker log " + log_path + ": " + std::strerror(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    throw std::runtime_error(std::string("cannot start a rollout worker: fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {  // only async-signal-safe calls from here to exec
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    // Its own process group: a Ctrl-C or a launcher's signal to the trainer's
    // group must reach the trainer (which checkpoints), not stop the workers mid-step.
    ::setpgid(0, 0);
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(log);
  return pid;
}

std::string log_tail(const std::string& path) {
  std::ifstream file(path);
  std::string line, tail;
  std::vector<std::string> lines;
  while (std::getline(file, line)) lines.push_back(line);
  for (size_t i = lines.size() > 5 ? lines.size() - 5 : 0; i < lines.size(); ++i) tail += "\n  " + lines[i];
  return tail;
}

}  // namespace

LocalWorkerPool::LocalWorkerPool(const LocalWorkerPoolOptions& options) {
  std::vector<std::string> environment;
  for (char** variable = environ; *variable != nullptr; ++variable) {
    // Keep the MPI launcher's variables away from the workers: they are not ranks.
    if (std::strncmp(*variable, "OMPI_", 5) == 0 || std::strncmp(*variable, "PMIX_", 5) == 0 ||
        std::strncmp(*variable, "OMP_NUM_THREADS=", 16) == 0) {
      continue;
    }
    environment.emplace_back(*variable);
  }
  environment.push_back("OMP_NUM_THREADS=" + std::to_string(options.threads));
  environment.push_back("DELTARL_PROCESSES_PER_HOST=" + std::to_string(std::max<int64_t>(1, options.processes_per_host)));
  std::vector<std::string> port_files, log_files;
  try {
    for (int64_t k = 0; k < options.count; ++k) {
      const std::string name = "worker-" + std::to_string(k);
      port_files.push_back(join_path(options.log_folder, name + ".port"));
      log_files.push_back(join_path(options.log_folder, name + ".log"));
      remove_file(port_files.back());
      std::vector<std::string> arguments = {options.executable, "rollout", "--model", options.model_folder,
                                            "--port", "0", "--port-file", port_files.back(), "--threads",
                                            std::to_string(options.threads), "--max-batch",
                                            std::to_string(options.max_batch), "--drain-seconds", "5"};
      if (options.cuda_graphs) arguments.push_back("--cuda-graphs");
      arguments.push_back("--device");
      arguments.push_back(options.device);
      if (!options.kv_cache_memory.empty()) {
        arguments.push_back("--kv-cache-memory");
        arguments.push_back(options.kv_cache_memory);
      }
      pids_.push_back(spawn_worker(arguments, environment, log_files.back()));
    }
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(static_cast<int64_t>(options.start_timeout_seconds * 1000));
    for (int64_t k = 0; k < options.count; ++k) {
      while (true) {
        std::ifstream port_file(port_files[k]);
        int port = 0;
        if (port_file >> port && port > 0) {
          addresses_.push_back("127.0.0.1:" + std::to_string(port));
          break;
        }
        int exit_status = 0;
        if (::waitpid(pids_[k], &exit_status, WNOHANG) == pids_[k]) {
          pids_[k] = -1;
          throw std::runtime_error("rollout worker " + std::to_string(k) + " exited while starting (see " +
                                   log_files[k] + "):" + log_tail(log_files[k]));
        }
        if (std::chrono::steady_clock::now() > deadline) {
          throw std::runtime_error("rollout worker " + std::to_string(k) + " did not start serving within " +
                                   std::to_string(options.start_timeout_seconds) + " s (see " + log_files[k] + ")");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  } catch (...) {
    stop(/*grace_seconds=*/2);
    throw;
  }
}

LocalWorkerPool::~LocalWorkerPool() { stop(); }

void LocalWorkerPool::stop(double grace_seconds) {
  for (pid_t pid : pids_) {
    if (pid > 0) ::kill(pid, SIGTERM);
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(grace_seconds * 1000));
  for (pid_t& pid : pids_) {
    if (pid <= 0) continue;
    while (::waitpid(pid, nullptr, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid = -1;
  }
}

}  // namespace deltarl

// WorkerProcess: a real `deltarl rollout` child process on 127.0.0.1 with an
// ephemeral port, for tests of the learner side against real workers; killed
// on destruction. The test target defines DELTARL_BINARY (the deltarl
// executable) and depends on the `deltarl` target.
//
//   WorkerProcess worker(model_folder);
//   RolloutClient client({.workers = {worker.address()}});
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace deltarl {

class WorkerProcess {
 public:
  // Starts the worker on `model_folder` (decoding up to 4 sequences together)
  // and returns once it printed the address it serves on.
  explicit WorkerProcess(const std::string& model_folder, std::vector<std::string> extra_arguments = {}) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    std::vector<std::string> args = {DELTARL_BINARY, "rollout", "--model", model_folder, "--port", "0", "--max-batch", "4"};
    args.insert(args.end(), extra_arguments.begin(), extra_arguments.end());
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, DELTARL_BINARY, &actions, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error("cannot start " + std::string(DELTARL_BINARY));
    }
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    // "deltarl rollout: serving DIR on 127.0.0.1:PORT"
    FILE* stream = fdopen(out[0], "r");
    char line[1024] = {0};
    if (fgets(line, sizeof(line), stream) == nullptr) throw std::runtime_error("worker printed nothing");
    fclose(stream);
    const std::string text = line;
    address_ = text.substr(text.rfind(' ') + 1);
    while (!address_.empty() && (address_.back() == '\n' || address_.back() == '\r')) address_.pop_back();
  }
  ~WorkerProcess() { kill_now(); }
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  void kill_now() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  // SIGTERM, then the exit status (or -1 if it did not exit within `seconds`).
  int terminate_and_wait(int seconds) {
    ::kill(pid_, SIGTERM);
    for (int waited = 0; waited < seconds * 10; ++waited) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      usleep(100000);
    }
    return -1;
  }
  pid_t pid() const { return pid_; }
  const std::string& address() const { return address_; }

 private:
  pid_t pid_ = -1;
  std::string address_;
};

}  // namespace deltarl

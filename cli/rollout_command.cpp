#include "cli/rollout_command.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <memory>

#include <torch/torch.h>

#include "core/atomic_file_writer.h"
#include "core/input_error.h"
#include "core/memory_size.h"
#include "core/log.h"
#include "rollout_workers/rollout_server.h"
#include "trainer/rollout/rollout_auth_token.h"

namespace deltarl {

namespace {

bool is_loopback(const std::string& address) {
  return address == "localhost" || address == "::1" || address == "[::1]" || address.rfind("127.", 0) == 0;
}

// The host part of the address learners dial: a wildcard bind is reachable by
// this host's name.
std::string advertised_host(const std::string& bind_address, const std::string& advertise_host) {
  if (!advertise_host.empty()) return advertise_host;
  if (bind_address != "0.0.0.0" && bind_address != "::" && bind_address != "[::]") return bind_address;
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) throw std::runtime_error("gethostname failed; pass --advertise-host");
  return name;
}

}  // namespace

void register_rollout_command(CLI::App& app, Status* status) {
  struct Options {
    RolloutServerOptions server;
    std::string token_file;
    double drain_seconds = 30;
    std::string port_file;
    std::string address_file;
    std::string advertise_host;
    int threads = 0;
    std::string kv_cache_memory;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("rollout", "Serve generation over gRPC (a rollout worker)");
  command->add_option("--model", options->server.model_folder, "folder with config.json, weights, tokenizer.json")
      ->required();
  command->add_option("--port", options->server.port, "0 picks a free port (printed)")->capture_default_str();
  command->add_option("--bind", options->server.bind_address, "address to listen on")->capture_default_str();
  command->add_option("--device", options->server.device, "cpu, cuda or cuda:N: where generation runs")
      ->capture_default_str();
  command->add_option("--max-batch", options->server.max_batch_sequences, "sequences decoded together")
      ->capture_default_str();
  command->add_option("--kv-cache-memory", options->kv_cache_memory,
                      "the paged KV cache's budget, e.g. 2GiB or 20GiB (default: 40 % of the free memory of the "
                      "device, divided among the processes on this host)");
  command->add_flag("--cuda-graphs", options->server.cuda_graphs,
                    "decode through CUDA graphs (with --device cuda; not yet validated on a device)");
  command->add_option("--token-file", options->token_file, "file holding the shared token");
  command->add_option("--port-file", options->port_file,
                      "write the bound port here (atomically) once serving; for launchers");
  command->add_option("--address-file", options->address_file,
                      "write host:port here (atomically) once serving; launchers collect these from a shared folder");
  command->add_option("--advertise-host", options->advertise_host,
                      "the host name learners should dial (default: --bind, or this host's name when bound to 0.0.0.0)");
  command->add_option("--threads", options->threads, "LibTorch threads; 0 keeps LibTorch's default")
      ->capture_default_str();
  command->add_option("--drain-seconds", options->drain_seconds, "grace for running streams on SIGTERM")
      ->capture_default_str();
  command->callback([options, status] {
    try {
      options->server.auth_token = read_rollout_auth_token(options->token_file, "--token-file");
      if (!options->kv_cache_memory.empty()) {
        options->server.kv_cache_bytes = parse_memory_size(options->kv_cache_memory, "--kv-cache-memory");
      }
      if (!is_loopback(options->server.bind_address) && !options->server.auth_token) {
        throw InputError("--bind " + options->server.bind_address +
                         " listens beyond loopback: set DELTARL_ROLLOUT_TOKEN or --token-file");
      }
      // SIGUSR1/2 are for learners (Slurm's preemption warning reaches every
      // process of a job step): a worker keeps serving through them.
      signal(SIGUSR1, SIG_IGN);
      signal(SIGUSR2, SIG_IGN);
      // Block the stop signals in every thread gRPC and LibTorch start, and wait for them here.
      sigset_t signals;
      sigemptyset(&signals);
      sigaddset(&signals, SIGTERM);
      sigaddset(&signals, SIGINT);
      pthread_sigmask(SIG_BLOCK, &signals, nullptr);
      if (options->threads > 0) torch::set_num_threads(options->threads);
      RolloutServer server(options->server);
      if (!options->port_file.empty()) {
        AtomicFileWriter port_file(options->port_file);
        port_file.stream() << server.port() << "\n";
        port_file.commit();
      }
      if (!options->address_file.empty()) {
        AtomicFileWriter address_file(options->address_file);
        address_file.stream() << advertised_host(options->server.bind_address, options->advertise_host) << ":"
                              << server.port() << "\n";
        address_file.commit();
      }
      std::cout << "deltarl rollout: serving " << options->server.model_folder << " on " << server.address()
                << std::endl;
      int received = 0;
      sigwait(&signals, &received);
      log_info(std::string("received ") + (received == SIGTERM ? "SIGTERM" : "SIGINT") + ", draining");
      server.shutdown(options->drain_seconds);
      *status = Status();
    } catch (const InputError& error) {
      *status = Status(StatusCode::kInvalidArgument, error.what());
    } catch (const std::runtime_error& error) {
      *status = Status(StatusCode::kUnavailable, error.what());
    }
  });
}

}  // namespace deltarl

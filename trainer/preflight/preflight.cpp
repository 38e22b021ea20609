#include "trainer/preflight/preflight.h"

#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <set>
#include <sstream>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/build_identity.h"
#include "core/file_system.h"
#include "core/input_error.h"
#include "core/model/model_config.h"
#include "deltarl/v1/rollout.grpc.pb.h"
#include "trainer/comm/internal/mpi_check.h"
#include "trainer/preflight/memory_plan.h"
#include "trainer/rollout/rollout_auth_token.h"
#ifdef DELTARL_HAVE_NCCL
#include <nccl.h>
#endif

namespace deltarl {

namespace {

using nlohmann::json;

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "unknown-host";
  return name;
}

std::string runtime_mpi_library() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  MPI_Get_library_version(text, &length);
  std::string version(text, static_cast<size_t>(length));
  version = version.substr(0, version.find_first_of(",\n"));
  while (!version.empty() && std::isspace(static_cast<unsigned char>(version.back()))) version.pop_back();
  return version;
}

// "Open MPI v4.1.4" as compiled in; "" for other MPIs: the MPICH family
// (MPICH, MVAPICH, Intel MPI) shares one ABI across vendors and names itself
// differently in every one, so only Open MPI builds are checked.
std::string compiled_mpi_library() {
#if defined(OMPI_MAJOR_VERSION)
  return "Open MPI v" + std::to_string(OMPI_MAJOR_VERSION) + "." + std::to_string(OMPI_MINOR_VERSION) + "." +
         std::to_string(OMPI_RELEASE_VERSION);
#else
  return "";
#endif
}

// "Open MPI v4" from "Open MPI v4.1.4": builds with the same vendor and major
// version are ABI compatible.
std::string vendor_and_major(const std::string& library) {
  const auto dot = library.find('.');
  return dot == std::string::npos ? library : library.substr(0, dot);
}

std::string nccl_version() {
#ifdef DELTARL_HAVE_NCCL
  int code = 0;
  if (ncclGetVersion(&code) != ncclSuccess) return "unloadable";
  return std::to_string(code / 10000) + "." + std::to_string(code / 100 % 100) + "." + std::to_string(code % 100);
#else
  return "";
#endif
}

// Tasks the launcher says it started, or 0 when it does not say: a launcher
// whose MPI wire-up failed starts that many singletons of world size 1.
int64_t launcher_tasks() {
  // mpirun's and PMI's own counts first: an mpirun inside an srun session
  // inherits the session's SLURM_STEP_NUM_TASKS.
  for (const char* variable : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"}) {
    if (const char* value = std::getenv(variable); value != nullptr && *value != '\0') {
      return std::strtoll(value, nullptr, 10);
    }
  }
  return 0;
}

std::string likely_cause(grpc::StatusCode code, double timeout) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
      return "nothing answers there: worker not started yet, wrong host:port, or a firewall";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "no answer in " + std::to_string(static_cast<int>(timeout)) + " s: packets filtered or the worker is stuck";
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      return "token refused: give the learners the workers' token (DELTARL_ROLLOUT_TOKEN or rollout.auth_token_file)";
    default:
      return "unexpected answer";
  }
}

json ask_worker(const std::string& address, const std::optional<std::string>& token, double timeout) {
  json report = {{"address", address}};
  auto stub = v1::RolloutService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000)));
  authorize_rollout_call(context, token);
  v1::WorkerStatus reply;
  const grpc::Status status = stub->GetStatus(&context, v1::GetStatusRequest(), &reply);
  report["ok"] = status.ok();
  if (!status.ok()) {
    report["error"] = status.error_message() + " (" + likely_cause(status.error_code(), timeout) + ")";
    return report;
  }
  report["build"] = reply.build();
  report["model"] = reply.model();
  report["policy_version"] = reply.policy_version();
  report["healthy"] = reply.healthy();
  report["kv_blocks"] = reply.kv_blocks();
  report["free_kv_blocks"] = reply.free_kv_blocks();
  return report;
}

// This rank's facts, as JSON (they travel to every rank as text).
json gather_local_facts(const TrainingConfig& config, const MpiEnvironment& mpi, const PreflightOptions& options) {
  const BuildIdentity& build = this_build();
  json facts = {{"rank", mpi.rank()},
                {"host", host_name()},
                {"local_rank", mpi.local_rank()},
                {"local_size", mpi.local_size()},
                {"build", build.description()},
                {"mpi_runtime", runtime_mpi_library()},
                {"mpi_compiled", compiled_mpi_library()},
                {"launcher_tasks", launcher_tasks()},
                {"cuda_devices", torch::cuda::is_available() ? torch::cuda::device_count() : 0},
                {"nccl", nccl_version()}};
  json missing = json::array();
  auto require = [&](const std::string& path, const std::string& key) {
    if (!path.empty() && !path_exists(path)) missing.push_back(key + " \"" + path + "\"");
  };
  require(join_path(config.model.path, "config.json"), "model.path/config.json");
  require(join_path(config.model.path, "tokenizer.json"), "model.path/tokenizer.json");
  require(config.data.train, "data.train");
  require(config.eval.data, "eval.data");
  facts["missing_files"] = missing;
  facts["vocab_size"] = nullptr;
  try {
    facts["vocab_size"] = ModelConfig::from_file(join_path(config.model.path, "config.json")).vocab_size;
  } catch (const std::exception&) {
    // Reported as a missing or bad file above or by the judge below.
  }
  std::optional<std::string> token;
  try {
    token = read_rollout_auth_token(config.rollout.auth_token_file);
  } catch (const InputError& error) {
    facts["token_error"] = error.what();
  }
  json workers = json::array();
  if (mpi.local_rank() == 0) {  // one look from each host
    std::vector<std::future<json>> answers;
    for (const auto& address : config.rollout.workers) {
      answers.push_back(std::async(std::launch::async, ask_worker, address, token, options.worker_timeout_seconds));
    }
    for (auto& answer : answers) workers.push_back(answer.get());
  }
  facts["workers"] = workers;
  // The memory plan on a CPU learner (a GPU's memory is not seen here: `deltarl plan --gpu-memory`).
  const bool on_gpu = config.train.device == "cuda" || (config.train.device == "auto" && facts["cuda_devices"] > 0);
  if (!on_gpu) {
    try {
      MemoryPlanOptions plan_options;
      plan_options.ranks = mpi.world_size();
      plan_options.ranks_per_host = mpi.local_size();
      const MemoryPlan plan = plan_memory(plan_model_config(config.model.path), config, plan_options);
      facts["memory"] = {{"peak", plan.per_rank_peak_bytes}, {"limit", plan.limit_bytes},
                         {"limit_source", plan.limit_source}, {"suggestions", plan.suggestions}};
    } catch (const std::exception& error) {
      facts["memory"] = {{"error", error.what()}};
    }
  }
  return facts;
}

std::vector<json> all_gather(const json& mine) {
  // Never throws before the collective (a file name with bad UTF-8, say): the
  // other ranks would wait for this one for ever.
  const std::string text = mine.dump(-1, ' ', false, json::error_handler_t::replace);
  int world = 1;
  DELTARL_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &world));
  int length = static_cast<int>(text.size());
  std::vector<int> lengths(static_cast<size_t>(world)), offsets(static_cast<size_t>(world));
  DELTARL_MPI_CHECK(MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, MPI_COMM_WORLD));
  int total = 0;
  for (int rank = 0; rank < world; ++rank) offsets[static_cast<size_t>(rank)] = total, total += lengths[static_cast<size_t>(rank)];
  std::string all(static_cast<size_t>(total), '\0');
  DELTARL_MPI_CHECK(MPI_Allgatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR,
                                   MPI_COMM_WORLD));
  std::vector<json> facts;
  for (int rank = 0; rank < world; ++rank) {
    facts.push_back(json::parse(all.substr(static_cast<size_t>(offsets[static_cast<size_t>(rank)]),
                                           static_cast<size_t>(lengths[static_cast<size_t>(rank)]))));
  }
  return facts;
}

// "A on host1, host2; B on host3" for a field whose values should all agree.
std::string disagreement(const std::vector<json>& ranks, const std::string& field) {
  std::map<std::string, std::set<std::string>> hosts_by_value;
  for (const auto& rank : ranks) hosts_by_value[rank[field].get<std::string>()].insert(rank["host"].get<std::string>());
  if (hosts_by_value.size() <= 1) return "";
  std::string text;
  for (const auto& [value, hosts] : hosts_by_value) {
    if (!text.empty()) text += "; ";
    text += "\"" + value + "\" on ";
    bool first = true;
    for (const auto& host : hosts) text += (first ? "" : ", ") + host, first = false;
  }
  return text;
}

std::optional<int64_t> vocab_of(const std::string& model_description) {
  const auto at = model_description.find("vocab ");
  if (at == std::string::npos) return std::nullopt;
  return std::strtoll(model_description.c_str() + at + 6, nullptr, 10);
}

std::vector<std::string> judge(const TrainingConfig& config, const std::vector<json>& ranks) {
  std::vector<std::string> problems;
  const int64_t world = static_cast<int64_t>(ranks.size());
  const json& first = ranks.front();
  auto where = [](const json& rank) {
    return "rank " + std::to_string(rank["rank"].get<int>()) + " on " + rank["host"].get<std::string>();
  };

  const int64_t tasks = first["launcher_tasks"].get<int64_t>();
  if (tasks > 0 && tasks != world) {
    problems.push_back(where(first) + ": the launcher started " + std::to_string(tasks) +
                       " tasks but MPI sees a world of " + std::to_string(world) +
                       ": the tasks did not wire up (with srun use --mpi=pmix, see `srun --mpi=list`; with mpirun, "
                       "use the mpirun of the MPI deltarl was built against)");
  }
  for (const auto& rank : ranks) {
    const std::string compiled = rank["mpi_compiled"].get<std::string>();
    const std::string runtime = rank["mpi_runtime"].get<std::string>();
    if (!compiled.empty() && vendor_and_major(compiled) != vendor_and_major(runtime)) {
      problems.push_back(where(rank) + ": deltarl was built against " + compiled + " but runs with \"" + runtime +
                         "\" (another MPI first in PATH or LD_LIBRARY_PATH?)");
      break;
    }
  }
  if (const auto text = disagreement(ranks, "build"); !text.empty()) {
    problems.push_back("learner hosts run different deltarl builds: " + text + " (install one build everywhere)");
  }
  if (const auto text = disagreement(ranks, "mpi_runtime"); !text.empty()) {
    problems.push_back("learner hosts run different MPI libraries: " + text);
  }

  std::set<std::string> hosts;
  bool some_gpu_host = false, some_cpu_host = false;
  for (const auto& rank : ranks) {
    const std::string host = rank["host"].get<std::string>();
    if (!hosts.insert(host).second) continue;  // judge each host once, by its first rank
    const int64_t gpus = rank["cuda_devices"].get<int64_t>();
    const int64_t local_ranks = rank["local_size"].get<int64_t>();
    (gpus > 0 ? some_gpu_host : some_cpu_host) = true;
    if (config.train.device == "cuda" && gpus == 0) {
      problems.push_back(host + ": train.device is cuda but LibTorch sees no GPU there (a CPU build of LibTorch, or "
                         "no GPU allocated: --gpus-per-node / CUDA_VISIBLE_DEVICES)");
    }
    if (gpus > 0 && config.train.device != "cpu") {
      if (rank["nccl"].get<std::string>().empty() && world > 1) {
        problems.push_back(host + " has " + std::to_string(gpus) +
                           " GPU(s) but this deltarl was built without NCCL: rebuild where NCCL is installed "
                           "(DELTARL_WITH_NCCL=ON) or set train.device: cpu");
      }
      if (local_ranks > gpus) {
        problems.push_back(host + " runs " + std::to_string(local_ranks) + " learner ranks on " +
                           std::to_string(gpus) + " GPU(s): one rank per GPU (--ntasks-per-node = GPUs per node)");
      }
    }
    for (const auto& file : rank["missing_files"]) {
      problems.push_back(host + ": " + file.get<std::string>() +
                         " does not exist there (every learner host reads it: a shared file system, or copy it)");
    }
    if (rank.contains("token_error")) problems.push_back(host + ": " + rank["token_error"].get<std::string>());
    if (rank.contains("memory") && rank["memory"].contains("error") && rank["missing_files"].empty()) {
      problems.push_back(host + ": memory plan: " + rank["memory"]["error"].get<std::string>());
    } else if (rank.contains("memory") && rank["memory"].contains("peak") &&
               rank["memory"]["peak"].get<int64_t>() > rank["memory"]["limit"].get<int64_t>()) {
      const json& memory = rank["memory"];
      auto gib = [](int64_t bytes) {
        char text[32];
        std::snprintf(text, sizeof(text), "%.1f GiB", static_cast<double>(bytes) / (int64_t{1} << 30));
        return std::string(text);
      };
      std::string problem = host + ": a learner rank needs about " + gib(memory["peak"].get<int64_t>()) +
                            " at its peak but has " + gib(memory["limit"].get<int64_t>()) + " (" +
                            memory["limit_source"].get<std::string>() + "; `deltarl plan` shows the parts); try";
      for (const auto& suggestion : memory["suggestions"]) problem += "\n      " + suggestion.get<std::string>();
      problems.push_back(problem);
    }
  }
  if (some_gpu_host && some_cpu_host && config.train.device == "auto") {
    problems.push_back("train.device auto resolves to CUDA on some hosts and CPU on others: allocate GPUs on every "
                       "learner host or set train.device");
  }
  if (config.rollout.spawn_local > 0 && hosts.size() > 1) {
    problems.push_back("rollout.spawn_local starts workers on 127.0.0.1 of rank 0's host, but the learners span " +
                       std::to_string(hosts.size()) + " hosts: start workers with `deltarl rollout` and list them "
                       "in rollout.workers (the launchers in deploy/ do)");
  }
  if (config.rollout.workers.empty() && config.rollout.spawn_local == 0) {
    problems.push_back("no rollout workers: set rollout.workers or rollout.spawn_local");
  }

  const std::string learner_build = first["build"].get<std::string>();
  const json& learner_vocab = first["vocab_size"];
  for (const auto& rank : ranks) {
    for (const auto& worker : rank["workers"]) {
      const std::string address = worker["address"].get<std::string>();
      const std::string from = rank["host"].get<std::string>();
      if (!worker["ok"].get<bool>()) {
        problems.push_back("worker " + address + " from " + from + ": " + worker["error"].get<std::string>());
        continue;
      }
      const std::string build = worker["build"].get<std::string>();
      if (build != learner_build) {
        problems.push_back("worker " + address + " runs \"" + (build.empty() ? "an older deltarl" : build) +
                           "\" but the learners run \"" + learner_build + "\"");
      }
      const auto vocab = vocab_of(worker["model"].get<std::string>());
      if (vocab && learner_vocab.is_number() && *vocab != learner_vocab.get<int64_t>()) {
        problems.push_back("worker " + address + " serves a model with vocabulary " + std::to_string(*vocab) +
                           " but model.path has " + std::to_string(learner_vocab.get<int64_t>()) +
                           " (started with another --model?)");
      }
    }
  }
  return problems;
}

std::string describe(const std::vector<json>& ranks) {
  std::map<std::string, std::vector<int>> ranks_by_host;
  std::map<std::string, const json*> first_by_host;
  for (const auto& rank : ranks) {
    const std::string host = rank["host"].get<std::string>();
    ranks_by_host[host].push_back(rank["rank"].get<int>());
    if (!first_by_host.count(host)) first_by_host[host] = &rank;
  }
  std::ostringstream table;
  table << "deltarl preflight: " << ranks.size() << " learner rank(s) on " << ranks_by_host.size() << " host(s)\n";
  for (const auto& [host, numbers] : ranks_by_host) {
    const json& rank = *first_by_host[host];
    table << "  " << host << ": ranks";
    for (int number : numbers) table << " " << number;
    const std::string nccl = rank["nccl"].get<std::string>();
    if (rank.contains("memory") && rank["memory"].contains("peak")) {
      table << " | plan " << rank["memory"]["peak"].get<int64_t>() / (int64_t{1} << 20) << " MiB of "
            << rank["memory"]["limit"].get<int64_t>() / (int64_t{1} << 20) << " MiB per rank";
    }
    table << " | GPUs " << rank["cuda_devices"].get<int64_t>() << " | NCCL " << (nccl.empty() ? "not built" : nccl)
          << " | " << rank["mpi_runtime"].get<std::string>() << " | " << rank["build"].get<std::string>() << "\n";
    for (const auto& worker : rank["workers"]) {
      table << "    worker " << worker["address"].get<std::string>() << ": ";
      if (worker["ok"].get<bool>()) {
        table << "ok, policy version " << worker["policy_version"].get<uint64_t>() << ", "
              << worker["model"].get<std::string>() << ", " << worker["build"].get<std::string>() << "\n";
      } else {
        table << "UNREACHABLE\n";
      }
    }
  }
  return table.str();
}

}  // namespace

PreflightReport run_preflight(const TrainingConfig& config, const MpiEnvironment& mpi,
                              const PreflightOptions& options) {
  json facts;
  try {
    facts = gather_local_facts(config, mpi, options);
  } catch (const std::exception& error) {
    facts = {{"rank", mpi.rank()}, {"host", host_name()}, {"error", error.what()}};
  }
  const std::vector<json> ranks = all_gather(facts);
  for (const auto& rank : ranks) {
    if (rank.contains("error")) {
      PreflightReport report;
      report.problems.push_back("rank " + std::to_string(rank["rank"].get<int>()) + " on " +
                                rank["host"].get<std::string>() + " could not look around: " +
                                rank["error"].get<std::string>());
      return report;
    }
  }
  PreflightReport report;
  report.table = describe(ranks);
  report.problems = judge(config, ranks);
  return report;
}

}  // namespace deltarl

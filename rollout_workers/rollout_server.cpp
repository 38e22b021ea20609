#include "rollout_workers/rollout_server.h"

#include <chrono>
#include <optional>
#include <stdexcept>

#include <torch/torch.h>

#include "core/build_identity.h"
#include "core/compute_threads.h"
#include "core/file_system.h"
#include "core/input_error.h"
#include "core/log.h"
#include "core/model/hf_checkpoint.h"
#include "rollout_workers/kv_cache_budget.h"

namespace deltarl {

namespace {

torch::Device serving_device(const std::string& name) {
  std::optional<torch::Device> device;
  try {
    device = torch::Device(name);
  } catch (const std::exception&) {
    throw InputError("--device \"" + name + "\" is not a device (cpu, cuda or cuda:N)");
  }
  if (device->is_cuda()) {
    if (!torch::cuda::is_available()) {
      throw InputError("--device " + name + ": LibTorch sees no CUDA device (a CPU build of LibTorch, or no GPU here)");
    }
    const auto count = static_cast<int64_t>(torch::cuda::device_count());
    if (device->has_index() && device->index() >= count) {
      throw InputError("--device " + name + ": this host has " + std::to_string(count) + " CUDA device(s)");
    }
  } else if (!device->is_cpu()) {
    throw InputError("--device " + name + ": only cpu and cuda devices are served");
  }
  return *device;
}

}  // namespace

RolloutServer::RolloutServer(const RolloutServerOptions& options) : host_(options.bind_address) {
  auto tokenizer = std::make_shared<const Tokenizer>(Tokenizer::from_file(join_path(options.model_folder, "tokenizer.json")));
  this_build();  // fingerprint the executable now, not inside the first GetStatus reactor
  CausalLM served = load_pretrained(options.model_folder);
  served->to(serving_device(options.device));
  policy_ = std::make_shared<VersionedPolicy>(served, /*version=*/0);
  if (options.preallocate_standby) {
    CausalLM standby(served->config());
    const torch::Tensor& reference = served->model->embed_tokens->weight;
    standby->to(reference.device(), reference.scalar_type());
    policy_->provide_standby(standby);
  }
  release_compute_threads();  // decoding runs on the engine's thread from here on
  EngineOptions engine;
  engine.max_batch_sequences = options.max_batch_sequences;
  engine.cuda_graphs = options.cuda_graphs;
  const torch::Device device = served->model->embed_tokens->weight.device();
  engine.kv_cache_bytes =
      options.kv_cache_bytes > 0 ? options.kv_cache_bytes : default_kv_cache_bytes(device, processes_sharing_host());
  engine_ = std::make_shared<GenerationEngine>(policy_, engine);
  log_info("KV cache: " + std::to_string(engine_->statistics().kv_blocks) + " blocks of " +
           std::to_string(engine.block_size) + " positions, " + std::to_string(engine.kv_cache_bytes >> 20) + " MiB" +
           (options.kv_cache_bytes > 0 ? "" : " (the default: " + std::to_string(int(kDefaultKvCacheFraction * 100)) +
                                                  " % of free memory / " + std::to_string(processes_sharing_host()) +
                                                  " process(es) on this host)"));
  service_ = std::make_unique<RolloutService>(policy_, engine_, tokenizer, RolloutServiceOptions{options.auth_token});
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.bind_address + ":" + std::to_string(options.port), grpc::InsecureServerCredentials(),
                           &port_);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  // A larger HTTP/2 stream window: weight uploads are bulk transfers.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 << 20);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    engine_->stop();
    throw std::runtime_error("cannot listen on " + options.bind_address + ":" + std::to_string(options.port) +
                             " (port in use, or a bad bind address?)");
  }
}

RolloutServer::~RolloutServer() { shutdown(/*drain_seconds=*/5.0); }

std::string RolloutServer::address() const { return host_ + ":" + std::to_string(port_); }

void RolloutServer::shutdown(double drain_seconds) {
  if (shut_down_) return;
  shut_down_ = true;
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(drain_seconds * 1000));
  server_->Shutdown(deadline);  // refuses new calls; cancels what is still open at the deadline
  engine_->stop();
  server_->Wait();
}

void RolloutServer::wait() { server_->Wait(); }

}  // namespace deltarl

// Generation throughput of a running rollout worker (any deltarl build: the
// wire contract is the same), driven over loopback gRPC, so that the engine of
// this commit and a worker built from an older commit are measured on the same
// requests. Also measures this host's memory-read bandwidth, from which the
// decode bound follows: a decoding step reads every weight once, so a step at
// batch b cannot take less than weight bytes ÷ bandwidth.
//
//   worker_generation_bench --worker 127.0.0.1:PORT [--prompts 8] [--samples 1] [--prompt-tokens 32]
//                           [--new-tokens 64] [--repeats 3] [--label NAME]
//   worker_generation_bench --bandwidth [--threads 2]
//
// Prints one JSON line per measurement: tokens/s and steps/s (the median of
// the repeats after one warm-up), and the worker's queued/running counts.
#include <torch/torch.h>

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "deltarl/v1/rollout.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// The best of five reads of 1 GiB of float32 (far beyond every cache) by
// LibTorch, two ways: a sum, and a matrix-vector product (what a decoding step
// at batch 1 does with each weight). The faster sets the rate a decoding
// step's weight reads can reach on this host.
double read_bandwidth_bytes_per_second(int threads) {
  torch::set_num_threads(threads);
  const torch::Tensor matrix = torch::ones({int64_t{1} << 14, int64_t{1} << 14}, torch::kFloat32);
  const torch::Tensor vector = torch::ones({int64_t{1} << 14}, torch::kFloat32);
  double best = 0;
  for (int repeat = 0; repeat < 6; ++repeat) {
    auto start = Clock::now();
    const double sum = matrix.sum().item<double>();
    const double sum_seconds = seconds_since(start);
    start = Clock::now();
    const double product = torch::mv(matrix, vector)[0].item<double>();
    const double product_seconds = seconds_since(start);
    if (sum <= 0 || product <= 0) return 0;
    if (repeat > 0) best = std::max(best, static_cast<double>(matrix.nbytes()) / std::min(sum_seconds, product_seconds));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::string worker, label = "worker";
  int64_t prompts = 8, samples = 1, prompt_tokens = 32, new_tokens = 64, repeats = 3;
  int threads = 2;
  bool bandwidth = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const bool has_value = i + 1 < argc;
    if (flag == "--bandwidth") bandwidth = true;
    else if (flag == "--worker" && has_value) worker = argv[++i];
    else if (flag == "--label" && has_value) label = argv[++i];
    else if (flag == "--prompts" && has_value) prompts = std::stoll(argv[++i]);
    else if (flag == "--samples" && has_value) samples = std::stoll(argv[++i]);
    else if (flag == "--prompt-tokens" && has_value) prompt_tokens = std::stoll(argv[++i]);
    else if (flag == "--new-tokens" && has_value) new_tokens = std::stoll(argv[++i]);
    else if (flag == "--repeats" && has_value) repeats = std::stoll(argv[++i]);
    else if (flag == "--threads" && has_value) threads = std::stoi(argv[++i]);
    else {
      std::cerr << "worker_generation_bench: unknown or incomplete flag " << flag << "\n";
      return 2;
    }
  }
  if (bandwidth) {
    std::cout << "{\"bench\": \"read_bandwidth\", \"threads\": " << threads
              << ", \"bytes_per_s\": " << read_bandwidth_bytes_per_second(threads) << "}" << std::endl;
    return 0;
  }
  if (worker.empty()) {
    std::cerr << "worker_generation_bench: give --worker HOST:PORT (or --bandwidth)\n";
    return 2;
  }
  auto stub = deltarl::v1::RolloutService::NewStub(grpc::CreateChannel(worker, grpc::InsecureChannelCredentials()));
  deltarl::v1::GenerateRequest request;
  for (int64_t p = 0; p < prompts; ++p) {
    deltarl::v1::Prompt* wire = request.add_prompts();
    wire->set_group_id(static_cast<uint64_t>(p));
    for (int64_t t = 0; t < prompt_tokens; ++t) wire->add_token_ids(static_cast<int32_t>(3 + (p * 37 + t * 11) % 500));
  }
  request.set_samples_per_prompt(static_cast<int32_t>(samples));
  request.mutable_sampling()->set_temperature(1.0);  // sampled, as in RL; the worker has no EOS: full length
  request.mutable_sampling()->set_max_new_tokens(static_cast<int32_t>(new_tokens));
  std::vector<double> tokens_per_second, seconds_per_run;
  int64_t tokens = 0;
  for (int64_t repeat = 0; repeat <= repeats; ++repeat) {  // the first is warm-up
    grpc::ClientContext context;
    const auto start = Clock::now();
    auto stream = stub->Generate(&context, request);
    deltarl::v1::Completion completion;
    tokens = 0;
    while (stream->Read(&completion)) tokens += completion.length();
    const grpc::Status status = stream->Finish();
    if (!status.ok()) {
      std::cerr << "worker_generation_bench: Generate failed: " << status.error_message() << "\n";
      return 1;
    }
    const double seconds = seconds_since(start);
    if (repeat > 0) {
      tokens_per_second.push_back(static_cast<double>(tokens) / seconds);
      seconds_per_run.push_back(seconds);
    }
  }
  const double run_seconds = median(seconds_per_run);
  std::cout << "{\"bench\": \"worker_generation\", \"label\": \"" << label << "\", \"prompts\": " << prompts
            << ", \"samples\": " << samples << ", \"prompt_tokens\": " << prompt_tokens
            << ", \"new_tokens\": " << new_tokens << ", \"tokens\": " << tokens
            << ", \"tokens_per_s\": " << median(tokens_per_second) << ", \"seconds\": " << run_seconds
            << ", \"seconds_per_step\": " << run_seconds / static_cast<double>(new_tokens) << "}" << std::endl;
  return 0;
}

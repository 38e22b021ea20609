// Model throughput on this machine, for bench/run_model_benchmarks.sh to set
// beside transformers on the same checkpoint:
//   train   forward + backward (next-token cross-entropy) tokens/s, batch B x seq S
//   decode  KV-cache greedy decoding, generated tokens/s at the given batch sizes
// Prints one JSON object per measurement.
//
//   model_bench MODEL_DIR [--threads N] [--train-batch 8] [--train-seq 256]
//               [--prompt 64] [--new-tokens 64] [--decode-batches 1,32] [--repeats 5]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/model/hf_checkpoint.h"
#include "core/model/text_generator.h"
#include "core/tensor_memory_reuse.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  deltarl::keep_freed_tensor_memory();  // as the deltarl binary does
  if (argc < 2) {
    std::cerr << "usage: model_bench MODEL_DIR [--threads N] [--train-batch B] [--train-seq S] [--prompt P]"
                 " [--new-tokens G] [--decode-batches 1,32] [--repeats R]\n";
    return 2;
  }
  const std::string folder = argv[1];
  int threads = 2, repeats = 5;
  int64_t train_batch = 8, train_seq = 256, prompt = 64, new_tokens = 64;
  std::vector<int64_t> decode_batches = {1, 32};
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--threads") threads = std::stoi(value);
    else if (flag == "--train-batch") train_batch = std::stoll(value);
    else if (flag == "--train-seq") train_seq = std::stoll(value);
    else if (flag == "--prompt") prompt = std::stoll(value);
    else if (flag == "--new-tokens") new_tokens = std::stoll(value);
    else if (flag == "--repeats") repeats = std::stoi(value);
    else if (flag == "--decode-batches") {
      decode_batches.clear();
      std::stringstream list(value);
      for (std::string item; std::getline(list, item, ',');) decode_batches.push_back(std::stoll(item));
    } else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  deltarl::CausalLM model = deltarl::load_pretrained(folder);
  const int64_t vocab = model->config().vocab_size;

  // Training: forward + backward of the mean next-token cross-entropy.
  model->train();
  const torch::Tensor ids = torch::randint(0, vocab, {train_batch, train_seq + 1}, torch::kInt64);
  const torch::Tensor inputs = ids.narrow(1, 0, train_seq), targets = ids.narrow(1, 1, train_seq);
  std::vector<double> train_times;
  for (int r = 0; r <= repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    model->zero_grad();
    torch::Tensor logits = model->forward(inputs);
    torch::Tensor loss = torch::nn::functional::cross_entropy(logits.reshape({-1, vocab}), targets.reshape({-1}));
    loss.backward();
    if (r > 0) train_times.push_back(seconds_since(start));  // the first is warm-up
  }
  std::cout << "{\"impl\": \"deltarl\", \"bench\": \"train\", \"batch\": " << train_batch << ", \"seq\": " << train_seq
            << ", \"tokens_per_s\": " << train_batch * train_seq / median(train_times) << "}" << std::endl;

  // Decoding: greedy, no stop tokens, exactly new_tokens per sequence.
  model->eval();
  model->prepare_inference(deltarl::LinearForm::kFused);  // the learner's form (evaluation, the KL reference)
  deltarl::GenerationOptions options;
  options.sampling.temperature = 0;
  options.max_new_tokens = new_tokens;
  for (int64_t batch : decode_batches) {
    std::vector<std::vector<int64_t>> prompts;
    std::vector<uint64_t> seeds;
    for (int64_t row = 0; row < batch; ++row) {
      torch::Tensor p = torch::randint(0, vocab, {prompt}, torch::kInt64);
      prompts.emplace_back(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + prompt);
      seeds.push_back(static_cast<uint64_t>(row));
    }
    std::vector<double> times;
    for (int r = 0; r <= std::max(1, repeats / 2); ++r) {
      const auto start = std::chrono::steady_clock::now();
      const auto result = deltarl::generate(model, prompts, seeds, options);
      if (r > 0) times.push_back(seconds_since(start));
    }
    std::cout << "{\"impl\": \"deltarl\", \"bench\": \"decode\", \"batch\": " << batch << ", \"prompt\": " << prompt
              << ", \"new_tokens\": " << new_tokens << ", \"tokens_per_s\": " << batch * new_tokens / median(times)
              << "}" << std::endl;
  }
  return 0;
}

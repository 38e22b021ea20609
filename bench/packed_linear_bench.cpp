// Packed products (core/model/packed_linear.h) against ATen's linear (the
// BLAS LibTorch brings) on the same weights in the same run: the products of
// one decoder layer of a preset (q/k/v, o, gate/up, down) and its logits, at
// the row counts of decoding. Prints one JSON object per row count, with the
// medians of interleaved repeats and their ratio.
//
//   packed_linear_bench [--preset small] [--rows 1,8,64,2048] [--threads 2] [--repeats 7]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/model/packed_linear.h"
#include "core/model/model_config.h"
#include "core/tensor_memory_reuse.h"

namespace {

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Microseconds per call of `run`, over enough calls to take ~20 ms.
template <typename Run>
double microseconds_per_call(const Run& run) {
  using Clock = std::chrono::steady_clock;
  int64_t calls = 1;
  while (true) {
    const auto start = Clock::now();
    for (int64_t i = 0; i < calls; ++i) run();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (seconds > 0.02) return seconds * 1e6 / static_cast<double>(calls);
    calls *= 2;
  }
}

}  // namespace

int main(int argc, char** argv) {
  deltarl::keep_freed_tensor_memory();  // as the deltarl binary does
  std::string preset = "small";
  std::vector<int64_t> row_counts = {1, 8, 64, 2048};
  int threads = 2, repeats = 7;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--preset") preset = value;
    else if (flag == "--threads") threads = std::stoi(value);
    else if (flag == "--repeats") repeats = std::stoi(value);
    else if (flag == "--rows") {
      row_counts.clear();
      std::stringstream list(value);
      for (std::string item; std::getline(list, item, ',');) row_counts.push_back(std::stoll(item));
    } else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (!deltarl::PackedLinear::supported()) {
    std::cerr << "packed_linear_bench: this CPU lacks AVX-512F; the models use ATen's products here\n";
    return 0;
  }
  torch::set_num_threads(threads);
  torch::NoGradGuard no_grad;
  torch::manual_seed(1);
  const deltarl::ModelConfig config = deltarl::ModelConfig::preset(preset);
  const int64_t h = config.hidden_size, kv = config.num_key_value_heads * config.head_dim();
  const int64_t q = config.num_attention_heads * config.head_dim();  // h for Qwen2 and Llama, 2h for Qwen3-0.6B
  struct Product {
    std::vector<torch::Tensor> weights, biases;
  };
  auto random = [](int64_t out, int64_t in) { return torch::randn({out, in}) * 0.02; };
  const std::vector<Product> products = {
      {{random(q, h), random(kv, h), random(kv, h)},
       config.attention_bias ? std::vector<torch::Tensor>{torch::randn({q}), torch::randn({kv}), torch::randn({kv})}
                             : std::vector<torch::Tensor>{}},
      {{random(h, q)}, {}},
      {{random(config.intermediate_size, h), random(config.intermediate_size, h)}, {}},
      {{random(h, config.intermediate_size)}, {}},
      {{random(config.vocab_size, h)}, {}},
  };
  std::vector<deltarl::PackedLinear> packed;
  std::vector<torch::Tensor> fused_weights, fused_biases;
  for (const Product& p : products) {
    packed.emplace_back(p.weights, p.biases);
    fused_weights.push_back(torch::cat(p.weights, 0));
    fused_biases.push_back(p.biases.empty() ? torch::Tensor() : torch::cat(p.biases, 0));
  }
  for (const int64_t rows : row_counts) {
    std::vector<torch::Tensor> inputs;
    double multiply_adds = 0;
    for (const torch::Tensor& w : fused_weights) {
      inputs.push_back(torch::randn({rows, w.size(1)}));
      multiply_adds += static_cast<double>(rows) * static_cast<double>(w.numel());
    }
    auto aten = [&] {
      for (size_t i = 0; i < inputs.size(); ++i) torch::nn::functional::linear(inputs[i], fused_weights[i], fused_biases[i]);
    };
    auto packed_products = [&] {
      for (size_t i = 0; i < inputs.size(); ++i) packed[i].forward(inputs[i]);
    };
    aten();
    packed_products();
    std::vector<double> aten_us, packed_us;
    for (int r = 0; r < repeats; ++r) {  // interleaved: this VM's speed drifts within minutes
      aten_us.push_back(microseconds_per_call(aten));
      packed_us.push_back(microseconds_per_call(packed_products));
    }
    const double a = median(aten_us), p = median(packed_us);
    std::cout << "{\"bench\": \"packed_linear\", \"preset\": \"" << preset << "\", \"rows\": " << rows
              << ", \"threads\": " << threads << ", \"aten_us\": " << a << ", \"packed_us\": " << p
              << ", \"aten_gflops\": " << 2 * multiply_adds / a / 1e3 << ", \"packed_gflops\": "
              << 2 * multiply_adds / p / 1e3 << ", \"aten_over_packed\": " << a / p << "}" << std::endl;
  }
  return 0;
}

// Writes checkpoints with deltarl's save_pretrained for
// tests/reference/check_transformers_roundtrip.py to load in transformers:
// <out>/tied (single file) and <out>/untied (sharded), each with
// expected.safetensors holding input ids and deltarl's logits for them.
#include <torch/torch.h>

#include <iostream>

#include "core/file_system.h"
#include "core/model/hf_checkpoint.h"
#include "core/safetensors.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: export_for_transformers OUT_FOLDER\n";
    return 2;
  }
  torch::NoGradGuard no_grad;
  for (bool tied : {true, false}) {
    deltarl::Qwen2Config config = deltarl::Qwen2Config::preset("tiny", /*vocab_size=*/300);
    config.tie_word_embeddings = tied;
    config.rope_theta = 5000.0;
    torch::manual_seed(tied ? 1 : 2);
    deltarl::Qwen2ForCausalLM model(config);
    for (auto& parameter : model->parameters()) parameter.normal_(0.0, 0.1);  // biases and norms too
    const std::string folder = deltarl::join_path(argv[1], tied ? "tied" : "untied");
    deltarl::make_directories(folder);
    deltarl::save_pretrained(model, folder, torch::kFloat32, tied ? (int64_t{1} << 30) : 200'000);
    const torch::Tensor ids = torch::randint(0, config.vocab_size, {2, 9}, torch::kInt64);
    const torch::Tensor mask = torch::tensor({{1, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 0, 0, 0, 0}});
    deltarl::write_safetensors(deltarl::join_path(folder, "expected.safetensors"),
                               {{"input_ids", ids}, {"attention_mask", mask}, {"logits", model->forward(ids, mask)}});
  }
  std::cout << "wrote " << argv[1] << "\n";
  return 0;
}

// Writes checkpoints with deltarl's save_pretrained for
// tests/reference/check_transformers_roundtrip.py to load in transformers:
// <out>/<family>-tied (single file) and <out>/<family>-untied (sharded) for
// the families qwen2, qwen3 (head_dim 48 while hidden / heads is 32) and llama
// (llama3 RoPE scaling from 64 positions; the inputs run to 80), each with
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
  using deltarl::ModelFamily;
  for (const ModelFamily family : {ModelFamily::kQwen2, ModelFamily::kQwen3, ModelFamily::kLlama}) {
    for (bool tied : {true, false}) {
      deltarl::ModelConfig config = deltarl::ModelConfig::preset("tiny", /*vocab_size=*/300);
      config.family = family;
      config.tie_word_embeddings = tied;
      config.rope_theta = 5000.0;
      if (family != ModelFamily::kQwen2) config.attention_bias = false;
      if (family == ModelFamily::kQwen3) {
        config.qk_norm = true;
        config.head_size = 48;
      }
      if (family == ModelFamily::kLlama) {
        config.rope_theta = 500000.0;
        config.rope_scaling = deltarl::RopeScaling{8.0, 1.0, 4.0, 64};
      }
      torch::manual_seed(tied ? 1 : 2);
      deltarl::CausalLM model(config);
      for (auto& parameter : model->parameters()) parameter.normal_(0.0, 0.1);  // biases and norms too
      const std::string folder =
          deltarl::join_path(argv[1], std::string(deltarl::model_type_name(family)) + (tied ? "-tied" : "-untied"));
      deltarl::make_directories(folder);
      deltarl::save_pretrained(model, folder, torch::kFloat32, tied ? (int64_t{1} << 30) : 200'000);
      const int64_t length = 80;
      const torch::Tensor ids = torch::randint(0, config.vocab_size, {2, length}, torch::kInt64);
      torch::Tensor mask = torch::ones({2, length}, torch::kInt64);
      mask[1].narrow(0, 50, length - 50).zero_();
      deltarl::write_safetensors(deltarl::join_path(folder, "expected.safetensors"),
                                 {{"input_ids", ids}, {"attention_mask", mask}, {"logits", model->forward(ids, mask)}});
    }
  }
  std::cout << "wrote " << argv[1] << "\n";
  return 0;
}

// FlatGradients folds each bf16 gradient into its fp32 buffer while backward
// runs (FlatGradients::fold_during_backward), to the bits of folding after it.
#include "trainer/algorithm/flat_gradients.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <vector>

namespace deltarl {
namespace {

struct Chain {
  torch::Tensor first, second, bias;  // bf16 matrices, an fp32 vector
  std::vector<torch::Tensor> parameters() const { return {first, second, bias}; }
};

Chain make_chain() {
  torch::manual_seed(7);
  Chain chain;
  chain.first = torch::randn({16, 16}).to(torch::kBFloat16).requires_grad_(true);
  chain.second = torch::randn({16, 16}).to(torch::kBFloat16).requires_grad_(true);
  chain.bias = torch::randn({16}).requires_grad_(true);
  return chain;
}

// Two micro-batches through first, then second: backward reaches second first.
torch::Tensor loss_of(const Chain& chain, int micro_batch) {
  torch::manual_seed(100 + micro_batch);
  const torch::Tensor input = torch::randn({4, 16}).to(torch::kBFloat16);
  const torch::Tensor hidden = torch::tanh(input.matmul(chain.first));
  return (hidden.matmul(chain.second).to(torch::kFloat32) + chain.bias).square().sum();
}

torch::Tensor accumulate(bool during_backward, std::vector<bool>* second_folded_before_first = nullptr) {
  Chain chain = make_chain();
  FlatGradients gradients(chain.parameters(), FlatParameterLayout(chain.parameters(), 1), 0, false);
  gradients.start();
  if (second_folded_before_first != nullptr) {
    // Runs when first's gradient is computed, after second's was accumulated.
    chain.first.register_hook([&chain, second_folded_before_first](const torch::Tensor& grad) {
      second_folded_before_first->push_back(!chain.second.grad().defined());
      return grad;
    });
  }
  for (int micro_batch = 0; micro_batch < 2; ++micro_batch) {
    if (during_backward) {
      const FlatGradients::BackwardFolding folding = gradients.fold_during_backward();
      loss_of(chain, micro_batch).backward();
    } else {
      loss_of(chain, micro_batch).backward();
    }
    if (during_backward) {
      EXPECT_FALSE(chain.first.grad().defined()) << "first's bf16 gradient was not folded during backward";
      EXPECT_FALSE(chain.second.grad().defined()) << "second's bf16 gradient was not folded during backward";
    }
    gradients.fold();
  }
  return gradients.full().clone();
}

TEST(FlatGradients, BFloat16GradientsFoldDuringBackwardToTheSameBits) {
  std::vector<bool> second_folded_before_first;
  const torch::Tensor during = accumulate(/*during_backward=*/true, &second_folded_before_first);
  const torch::Tensor after = accumulate(/*during_backward=*/false);
  EXPECT_TRUE(torch::equal(during, after));
  EXPECT_GT(during.abs().sum().item<double>(), 0);
  // So at most one bf16 gradient exists at a time in this chain.
  EXPECT_EQ(second_folded_before_first, std::vector<bool>({true, true}));
}

TEST(FlatGradients, HooksFoldNothingOutsideTheGuard) {
  Chain chain = make_chain();
  FlatGradients gradients(chain.parameters(), FlatParameterLayout(chain.parameters(), 1), 0, false);
  gradients.start();
  { const FlatGradients::BackwardFolding folding = gradients.fold_during_backward(); }
  loss_of(chain, 0).backward();  // another backward (an evaluation, a study): its .grads are its own
  EXPECT_TRUE(chain.first.grad().defined());
  EXPECT_TRUE(chain.second.grad().defined());
  EXPECT_EQ(gradients.full().narrow(0, 0, 512).abs().sum().item<double>(), 0);
}

// An embedding's sparse gradient (DecoderModelImpl::sparse_embedding_gradient),
// tied to the output layer or alone, folds to the dense gradient's values:
// an fp32 table through its .grad view of the buffer, a bf16 one through the
// fold. Token 3 appears twice, so rows are summed.
torch::Tensor embedding_gradient(torch::ScalarType dtype, bool sparse, bool tied) {
  torch::manual_seed(11);
  torch::Tensor table = torch::randn({50, 8}).to(dtype).requires_grad_(true);
  FlatGradients gradients({table}, FlatParameterLayout({table}, 1), 0, false);
  gradients.start();
  const torch::Tensor ids = torch::tensor({{3, 7, 3, 41}}, torch::kLong);
  {
    const FlatGradients::BackwardFolding folding = gradients.fold_during_backward();
    const torch::Tensor hidden = torch::embedding(table, ids, -1, false, sparse);  // (1, 4, 8)
    torch::Tensor loss = hidden.to(torch::kFloat32).square().sum();
    if (tied) loss = loss + hidden.matmul(table.t()).to(torch::kFloat32).sin().sum();
    loss.backward();
  }
  gradients.fold();
  return gradients.full().clone();
}

TEST(FlatGradients, SparseEmbeddingGradientsFoldToTheDenseValues) {
  for (bool tied : {false, true}) {
    const torch::Tensor dense = embedding_gradient(torch::kFloat32, false, tied);
    const torch::Tensor sparse = embedding_gradient(torch::kFloat32, true, tied);
    EXPECT_GT(dense.abs().sum().item<double>(), 0);
    EXPECT_LE((sparse - dense).abs().max().item<double>(), 1e-6 * dense.abs().max().item<double>()) << tied;
    const torch::Tensor bf16_dense = embedding_gradient(torch::kBFloat16, false, tied);
    const torch::Tensor bf16_sparse = embedding_gradient(torch::kBFloat16, true, tied);
    EXPECT_TRUE(torch::allclose(bf16_sparse, bf16_dense, /*rtol=*/2e-2, /*atol=*/1e-2)) << tied;
  }
}

}  // namespace
}  // namespace deltarl

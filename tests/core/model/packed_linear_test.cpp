#include "core/model/packed_linear.h"

#include <gtest/gtest.h>

#include <cmath>
#include <torch/torch.h>

namespace deltarl {
namespace {

// The layers it stands in for, in float64: cat(x·W_iᵀ + b_i, -1).
torch::Tensor reference(const torch::Tensor& input, const std::vector<torch::Tensor>& weights,
                        const std::vector<torch::Tensor>& biases) {
  std::vector<torch::Tensor> parts;
  for (size_t i = 0; i < weights.size(); ++i) {
    parts.push_back(torch::nn::functional::linear(input.to(torch::kFloat64), weights[i].to(torch::kFloat64),
                                                  biases.empty() ? torch::Tensor() : biases[i].to(torch::kFloat64)));
  }
  return torch::cat(parts, -1).to(torch::kFloat32);
}

class PackedLinearTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PackedLinear::supported()) GTEST_SKIP() << "no AVX-512F, nor AVX2 with FMA: the models use ATen's products";
    torch::manual_seed(5);
  }
  torch::NoGradGuard no_grad_;
};

TEST_F(PackedLinearTest, MatchesTheLayersForEveryShape) {
  // Rows around the kernel's 8-row blocks, outputs around its 32-column panels
  // (masked last panels), input sizes from 1 to a model's.
  for (const int64_t rows : {1, 3, 8, 9, 64, 130}) {
    for (const int64_t out : {1, 16, 31, 32, 33, 100}) {
      for (const int64_t in : {1, 7, 256}) {
        const torch::Tensor x = torch::randn({rows, in}), w = torch::randn({out, in}), b = torch::randn({out});
        const PackedLinear with_bias({w}, {b}), without_bias({w}, {});
        ASSERT_TRUE(with_bias.applies(x));
        EXPECT_EQ(with_bias.out_features(), out);
        const torch::Tensor y = with_bias.forward(x);
        EXPECT_EQ(y.sizes(), (std::vector<int64_t>{rows, out}));
        EXPECT_TRUE(torch::allclose(y, reference(x, {w}, {b}), 1e-5, 1e-4)) << rows << " x " << in << " -> " << out;
        EXPECT_TRUE(torch::allclose(without_bias.forward(x), reference(x, {w}, {}), 1e-5, 1e-4));
      }
    }
  }
}

// Each output is bias, then one fused multiply-add per input in input order:
// the AVX-512 and the AVX2 kernel (the avx2 variant of this test) both give
// exactly what this scalar loop gives, so they agree bit for bit. 300 inputs
// and 5 rows: the AVX2 kernel's slices of the input (parked sums) included.
TEST_F(PackedLinearTest, EachOutputIsFusedMultiplyAddsInInputOrder) {
  const int64_t rows = 5, out = 45, in = 300;
  const torch::Tensor x = torch::randn({rows, in}), w = torch::randn({out, in}), b = torch::randn({out});
  torch::Tensor expected = torch::empty({rows, out});
  const auto xs = x.accessor<float, 2>(), ws = w.accessor<float, 2>();
  const auto bs = b.accessor<float, 1>();
  auto sums = expected.accessor<float, 2>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < out; ++c) {
      float sum = bs[c];
      for (int64_t k = 0; k < in; ++k) sum = std::fma(xs[r][k], ws[c][k], sum);
      sums[r][c] = sum;
    }
  }
  EXPECT_TRUE(torch::equal(PackedLinear({w}, {b}).forward(x), expected));
}

TEST_F(PackedLinearTest, SeveralLayersPackSideBySideAsOneProduct) {
  // q, k and v of a Qwen2 layer: outputs 256, 64 and 64 from 256 inputs.
  const torch::Tensor q = torch::randn({256, 256}), k = torch::randn({64, 256}), v = torch::randn({64, 256});
  const torch::Tensor qb = torch::randn({256}), kb = torch::randn({64}), vb = torch::randn({64});
  const PackedLinear packed({q, k, v}, {qb, kb, vb});
  const torch::Tensor x = torch::randn({2, 5, 256});  // (b, s, h): leading dimensions are kept
  const torch::Tensor y = packed.forward(x);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 5, 384}));
  EXPECT_TRUE(torch::allclose(y, reference(x, {q, k, v}, {qb, kb, vb}), 1e-5, 1e-4));
}

TEST_F(PackedLinearTest, ReadsStridedRowsAndSplitsLargeProductsOverThreads) {
  const torch::Tensor w = torch::randn({1408, 256});
  const PackedLinear packed({w}, {});
  // Rows of a wider tensor (row stride 300), as a narrow of a fused output is.
  const torch::Tensor wide = torch::randn({64, 300}), rows = wide.narrow(1, 10, 256);
  ASSERT_TRUE(packed.applies(rows));
  EXPECT_TRUE(torch::allclose(packed.forward(rows), reference(rows, {w}, {}), 1e-5, 1e-4));
  // A prefill-sized product, split over the pool's threads.
  const torch::Tensor many = torch::randn({2048, 256});
  EXPECT_TRUE(torch::allclose(packed.forward(many), reference(many, {w}, {}), 1e-5, 1e-4));
  // An input whose last dimension is strided, in grad mode or of another dtype is declined.
  EXPECT_FALSE(packed.applies(torch::randn({256, 4}).t()));
  EXPECT_FALSE(packed.applies(torch::randn({4, 256}, torch::kFloat64)));
  EXPECT_FALSE(packed.applies(torch::randn({4, 255})));
  {
    torch::AutoGradMode grad(true);
    EXPECT_FALSE(packed.applies(torch::randn({4, 256})));
  }
  EXPECT_THROW(packed.forward(torch::randn({4, 255})), c10::Error);
}

TEST_F(PackedLinearTest, ASnapshotStopsApplyingOnceItsParametersChange) {
  torch::nn::Linear layer(torch::nn::LinearOptions(64, 48));
  const torch::Tensor x = torch::randn({3, 64});
  PackedLinear packed({layer->weight}, {layer->bias});
  ASSERT_TRUE(packed.applies(x));
  EXPECT_TRUE(torch::allclose(packed.forward(x), layer(x), 1e-5, 1e-5));

  layer->weight.mul_(2);  // an optimizer step: same storage, new version
  EXPECT_FALSE(packed.applies(x));
  packed = PackedLinear({layer->weight}, {layer->bias});
  ASSERT_TRUE(packed.applies(x));
  EXPECT_TRUE(torch::allclose(packed.forward(x), layer(x), 1e-5, 1e-5));

  layer->bias.add_(1);  // the bias is part of the snapshot too
  EXPECT_FALSE(packed.applies(x));
  packed = PackedLinear({layer->weight}, {layer->bias});

  layer->weight.set_data(torch::randn({48, 64}));  // new storage
  EXPECT_FALSE(packed.applies(x));
  EXPECT_TRUE(PackedLinear().empty());
  EXPECT_FALSE(PackedLinear().applies(x));
}

TEST_F(PackedLinearTest, RefusesWhatItCannotPack) {
  EXPECT_THROW(PackedLinear({}, {}), c10::Error);
  EXPECT_THROW(PackedLinear({torch::randn({4, 8}), torch::randn({4, 9})}, {}), c10::Error);     // input sizes differ
  EXPECT_THROW(PackedLinear({torch::randn({4, 8})}, {torch::randn({5})}), c10::Error);          // bias of another size
  EXPECT_THROW(PackedLinear({torch::randn({4, 8}), torch::randn({4, 8})}, {torch::randn({4})}), c10::Error);  // one bias
  EXPECT_THROW(PackedLinear({torch::randn({4, 8}, torch::kFloat64)}, {}), c10::Error);          // dtype
}

}  // namespace
}  // namespace deltarl

// Note [Inference form staleness] (core/model/inference_forms.h), on a whole
// model: a weight write the version counters see sends no-grad forwards to the
// training layers, which give the new weights' results; prepare_inference()
// then brings the form back; a write they do not see (a memcpy, as uploads do)
// leaves a packed form stale until prepare_inference() runs again. Each
// result is compared bit for bit with a fresh model that holds the same
// weights and runs the same form.
#include "core/model/inference_forms.h"

#include <gtest/gtest.h>

#include <cstring>

#include <torch/torch.h>

#include "core/model/causal_lm.h"

namespace deltarl {
namespace {

CausalLM tiny_model(uint64_t seed) {
  torch::manual_seed(seed);
  CausalLM model(ModelConfig::preset("tiny"));
  model->eval();
  return model;
}

// A new model holding `model`'s weights now, prepared in `form`.
CausalLM copy_of(CausalLM& model, LinearForm form) {
  CausalLM copy = tiny_model(/*seed=*/0);
  torch::NoGradGuard no_grad;
  auto source = model->named_parameters();
  for (auto& parameter : copy->named_parameters()) parameter.value().copy_(source[parameter.key()]);
  copy->prepare_inference(form);
  return copy;
}

// Logits of a prefill and of a decoding step after it, without gradients.
torch::Tensor no_grad_logits(CausalLM& model, const torch::Tensor& ids) {
  torch::NoGradGuard no_grad;
  KvCache cache = model->make_cache(ids.size(0), ids.size(1) + 1);
  const torch::Tensor prefill = model->forward(ids, {}, {}, &cache);
  const torch::Tensor step = model->forward(ids.narrow(1, 0, 1), {}, {}, &cache);
  return torch::cat({prefill, step}, /*dim=*/1);
}

// What an optimizer step does: in place, through the parameters, seen by their version counters.
void optimizer_like_step(CausalLM& model) {
  torch::NoGradGuard no_grad;
  for (auto& parameter : model->parameters()) parameter.add_(torch::randn_like(parameter), /*alpha=*/0.02);
}

class InferenceFormsTest : public ::testing::TestWithParam<LinearForm> {
 protected:
  void SetUp() override {
    if (GetParam() == LinearForm::kPacked && !PackedLinear::supported()) {
      GTEST_SKIP() << "no AVX-512F: kPacked prepares kFused here";
    }
  }
  const torch::Tensor ids_ = torch::randint(0, 500, {3, 7});
};

TEST_P(InferenceFormsTest, AFreshModelRunsTheTrainingLayersUntilPrepared) {
  CausalLM model = tiny_model(1);
  EXPECT_EQ(model->inference_form(), LinearForm::kTraining);
  EXPECT_EQ(model->prepare_inference(GetParam()), GetParam());
  EXPECT_EQ(model->inference_form(), GetParam());
  EXPECT_EQ(model->prepare_inference(LinearForm::kTraining), LinearForm::kTraining);
  EXPECT_EQ(model->inference_form(), LinearForm::kTraining);
}

TEST_P(InferenceFormsTest, ASeenWriteFallsBackToTheTrainingLayersUntilPreparedAgain) {
  CausalLM model = tiny_model(2);
  model->prepare_inference(GetParam());
  const torch::Tensor before = no_grad_logits(model, ids_);
  CausalLM same = copy_of(model, GetParam());
  EXPECT_TRUE(torch::equal(before, no_grad_logits(same, ids_)));

  optimizer_like_step(model);
  EXPECT_EQ(model->inference_form(), LinearForm::kTraining);
  CausalLM unprepared = copy_of(model, LinearForm::kTraining);
  const torch::Tensor fallen_back = no_grad_logits(model, ids_);
  EXPECT_TRUE(torch::equal(fallen_back, no_grad_logits(unprepared, ids_))) << "not the training layers' results";
  EXPECT_FALSE(torch::allclose(fallen_back, before, 1e-3, 1e-3)) << "the step did not move the logits";

  EXPECT_EQ(model->prepare_inference(GetParam()), GetParam());
  CausalLM prepared = copy_of(model, GetParam());
  EXPECT_TRUE(torch::equal(no_grad_logits(model, ids_), no_grad_logits(prepared, ids_)));
}

TEST_P(InferenceFormsTest, AnUnseenWriteIsCorrectOncePreparedAgain) {
  CausalLM model = tiny_model(3);
  CausalLM next = tiny_model(4);  // the weights an upload brings
  CausalLM uploaded = copy_of(next, GetParam());
  const torch::Tensor expected = no_grad_logits(uploaded, ids_);
  model->prepare_inference(GetParam());
  // As a weight upload writes: memcpy into the parameters' memory, past their version counters.
  auto source = next->named_parameters();
  for (auto& parameter : model->named_parameters()) {
    const torch::Tensor& from = source[parameter.key()];
    std::memcpy(parameter.value().data_ptr(), from.data_ptr(), from.numel() * from.element_size());
  }
  EXPECT_EQ(model->inference_form(), GetParam()) << "the rule cannot see this write";
  if (GetParam() == LinearForm::kPacked) {
    // The hazard the rule names: the packs are copies of the old weights.
    EXPECT_FALSE(torch::allclose(no_grad_logits(model, ids_), expected, 1e-3, 1e-3));
  }
  model->prepare_inference(GetParam());
  EXPECT_TRUE(torch::equal(no_grad_logits(model, ids_), expected));
}

TEST_P(InferenceFormsTest, NewStorageFallsBackAndPreparesAgain) {
  CausalLM model = tiny_model(5);
  model->prepare_inference(GetParam());
  model->to(torch::kFloat64);  // every parameter gets new storage
  EXPECT_EQ(model->inference_form(), LinearForm::kTraining);
  const torch::Tensor wide = no_grad_logits(model, ids_);
  EXPECT_EQ(wide.scalar_type(), torch::kFloat32);
  // Packing needs float32: kPacked prepares kFused on float64 weights. The
  // logits are float32 either way, so the two may round apart by an ulp.
  EXPECT_EQ(model->prepare_inference(GetParam()), LinearForm::kFused);
  EXPECT_TRUE(torch::allclose(no_grad_logits(model, ids_), wide, 1e-6, 1e-6));
}

TEST(InferenceForms, RefusesInferenceTensorsWhichHaveNoVersionCounter) {
  torch::manual_seed(6);
  std::unique_ptr<CausalLM> model;
  {
    c10::InferenceMode inference_mode;
    model = std::make_unique<CausalLM>(ModelConfig::preset("tiny"));
  }
  EXPECT_THROW((*model)->prepare_inference(LinearForm::kFused), c10::Error);
  EXPECT_EQ((*model)->prepare_inference(LinearForm::kTraining), LinearForm::kTraining);
}

INSTANTIATE_TEST_SUITE_P(FusedAndPacked, InferenceFormsTest, ::testing::Values(LinearForm::kFused, LinearForm::kPacked),
                         [](const ::testing::TestParamInfo<LinearForm>& info) {
                           return std::string(linear_form_name(info.param));
                         });

}  // namespace
}  // namespace deltarl

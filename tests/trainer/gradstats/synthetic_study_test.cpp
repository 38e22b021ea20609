// The synthetic gradstats reproduces the paper's table: Monte Carlo over the
// trainer's own weights agrees with the closed forms (written independently in
// closed_forms.cpp), unbiased modes keep their scale as lengths grow while GRPO
// and DAPO shrink, and the CV ordering of the paper holds. Tolerances are a few
// Monte Carlo standard errors, so a wrong weight fails.
#include "trainer/gradstats/synthetic_study.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/input_error.h"

namespace deltarl {
namespace {

SyntheticStudyOptions paper_options() {
  SyntheticStudyOptions options;
  options.length_spec = "uniform:32..1024";
  options.beta = 1.0;
  options.num_groups = 1;
  options.group_size = 16;
  options.length_scales = {1, 8};
  options.trials = 200000;
  options.seed = 7;
  options.delta_l_alphas = {1.0, 0.75, 0.5, 0.25, 0.0};
  options.token_variance = 0.01;
  return options;
}

std::map<std::string, const EstimatorStudy*> by_label(const SyntheticStudyResult& result) {
  std::map<std::string, const EstimatorStudy*> map;
  for (const auto& study : result.estimators) map[study.label] = &study;
  return map;
}

void expect_monte_carlo_matches_closed_forms(const SyntheticStudyResult& result) {
  const double trials = static_cast<double>(result.options.trials);
  for (const auto& study : result.estimators) {
    for (size_t s = 0; s < study.monte_carlo.size(); ++s) {
      const auto& mc = study.monte_carlo[s];
      const auto& cf = study.closed_form[s];
      const double standard_error = std::sqrt(cf.variance / trials);
      EXPECT_NEAR(mc.expectation, cf.expectation, 5 * standard_error)
          << study.label << " at scale index " << s;
      EXPECT_NEAR(mc.variance / cf.variance, 1.0, 5 * std::sqrt(2.0 / trials))
          << study.label << " at scale index " << s;
    }
  }
}

TEST(SyntheticStudy, MonteCarloOverTrainerWeightsMatchesPaperClosedForms) {
  expect_monte_carlo_matches_closed_forms(run_synthetic_study(paper_options()));
}

TEST(SyntheticStudy, MonteCarloMatchesClosedFormsForManyGroupsInBothScopes) {
  for (auto scope : {DeltaLScope::kGroup, DeltaLScope::kBatch}) {
    SyntheticStudyOptions options = paper_options();
    options.num_groups = 4;
    options.group_size = 8;
    options.length_spec = "lognormal:200,1.0";
    options.trials = 100000;
    options.delta_l_scope = scope;
    expect_monte_carlo_matches_closed_forms(run_synthetic_study(options));
  }
}

TEST(SyntheticStudy, UnbiasedModesKeepTheirScaleAndGrpoDapoShrink) {
  const auto result = run_synthetic_study(paper_options());
  const double trials = static_cast<double>(result.options.trials);
  for (const auto& study : result.estimators) {
    const double at_1 = study.monte_carlo[0].expectation;
    const double at_8 = study.monte_carlo[1].expectation;
    const double error = 5 * std::sqrt(study.closed_form[1].variance / trials) / at_1;
    if (study.unbiased_by_construction) {
      EXPECT_NEAR(study.closed_form[1].expectation, study.closed_form[0].expectation,
                  1e-12 * study.closed_form[0].expectation) << study.label;
      EXPECT_NEAR(at_8 / at_1, 1.0, error) << study.label;
    } else {
      // Every length ×8 → GRPO's Σ 1/L and DAPO's 1/Σ L both shrink by exactly 8.
      EXPECT_NEAR(at_8 / at_1, 0.125, error) << study.label;
    }
  }
  const auto studies = by_label(result);
  EXPECT_FALSE(studies.at("GRPO")->unbiased_by_construction);
  EXPECT_FALSE(studies.at("DAPO")->unbiased_by_construction);
}

TEST(SyntheticStudy, PaperCvOrderingAtBetaOne) {
  const auto result = run_synthetic_study(paper_options());
  const auto s = by_label(result);
  auto cv = [&](const std::string& label) { return s.at(label)->monte_carlo[0].coefficient_of_variation(); };
  auto cv_closed = [&](const std::string& label) {
    return s.at(label)->closed_form[0].coefficient_of_variation();
  };
  // ΔL (α = 1) and GRPO share the lowest CV; with common random numbers their
  // estimators are proportional, so the Monte Carlo CVs agree to rounding.
  EXPECT_NEAR(cv("dL a=1"), cv("GRPO"), 1e-9 * cv("GRPO"));
  EXPECT_NEAR(cv_closed("dL a=1"), cv_closed("GRPO"), 1e-12 * cv_closed("GRPO"));
  // DAPO and Dr. GRPO are equal, and higher.
  EXPECT_NEAR(cv("DAPO"), cv("Dr. GRPO"), 1e-9 * cv("DAPO"));
  EXPECT_NEAR(cv_closed("DAPO"), cv_closed("Dr. GRPO"), 1e-12 * cv_closed("DAPO"));
  EXPECT_GT(cv("DAPO"), 1.2 * cv("dL a=1"));
  // ΔL's CV rises as α → 0, reaching Dr. GRPO's at α = 0.
  const char* ladder[] = {"dL a=1", "dL a=0.75", "dL a=0.5", "dL a=0.25", "dL a=0"};
  for (int i = 0; i + 1 < 5; ++i) {
    EXPECT_LT(cv_closed(ladder[i]), cv_closed(ladder[i + 1])) << ladder[i];
    EXPECT_LT(cv(ladder[i]), cv(ladder[i + 1])) << ladder[i];
  }
  EXPECT_NEAR(cv("dL a=0"), cv("Dr. GRPO"), 1e-9 * cv("Dr. GRPO"));
  // Every estimator's CV is at least ΔL α = 1's.
  for (const auto& study : result.estimators) {
    EXPECT_GE(study.monte_carlo[0].coefficient_of_variation(), cv("dL a=1") * (1 - 1e-9)) << study.label;
  }
}

TEST(SyntheticStudy, MinimumVarianceAlphaFollowsBeta) {
  // With Var ∝ L^β the minimum-variance unbiased weight is L^-β: at β = 0.5 the
  // α = 0.5 row beats both neighbours.
  SyntheticStudyOptions options = paper_options();
  options.beta = 0.5;
  options.length_scales = {1};
  const auto result = run_synthetic_study(options);
  const auto s = by_label(result);
  const double best = s.at("dL a=0.5")->closed_form[0].coefficient_of_variation();
  EXPECT_LT(best, s.at("dL a=0.75")->closed_form[0].coefficient_of_variation());
  EXPECT_LT(best, s.at("dL a=0.25")->closed_form[0].coefficient_of_variation());
  EXPECT_LT(best, s.at("dL a=1")->closed_form[0].coefficient_of_variation());
}

TEST(SyntheticStudy, BadOptionsNameTheFlag) {
  SyntheticStudyOptions options = paper_options();
  options.trials = 1;
  EXPECT_THROW(run_synthetic_study(options), InputError);
  options = paper_options();
  options.length_scales = {1, -2};
  EXPECT_THROW(run_synthetic_study(options), InputError);
  options = paper_options();
  options.delta_l_alphas = {-1};
  EXPECT_THROW(run_synthetic_study(options), InputError);
  options = paper_options();
  options.length_spec = "gamma:3";
  EXPECT_THROW(run_synthetic_study(options), InputError);
}

}  // namespace
}  // namespace deltarl

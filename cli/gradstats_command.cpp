#include "cli/gradstats_command.h"

#include <cstdio>
#include <iostream>
#include <memory>

#include "core/atomic_file_writer.h"
#include "core/input_error.h"

namespace deltarl {

namespace {

struct GradstatsOptions {
  bool synthetic = false;
  std::string scope = "group";
  std::string json_path;
  SyntheticStudyOptions study;
};

std::string format(const char* pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof(text), pattern, value);
  return text;
}

nlohmann::ordered_json moments_json(const EstimatorMoments& moments) {
  return {{"expectation", moments.expectation},
          {"variance", moments.variance},
          {"cv", moments.coefficient_of_variation()}};
}

}  // namespace

void print_synthetic_study(const SyntheticStudyResult& result, std::ostream& out) {
  const SyntheticStudyOptions& o = result.options;
  out << "deltarl gradstats --synthetic: lengths " << o.length_spec << ", Var[g_i] = V*L^"
      << o.beta << " (V = " << o.token_variance << "), " << o.num_groups << " group(s) x " << o.group_size << " samples, M = "
      << result.max_response_length << ", " << o.trials << " trials, seed " << o.seed << "\n";
  out << "scale = E[g_hat]/E[g_i] (Monte Carlo); xK/x1 = scale with every length multiplied by K,"
         " over scale at x1; CV = sqrt(Var)/|E| at x1\n\n";
  char line[256];
  std::snprintf(line, sizeof(line), "%-20s %11s", "estimator", "scale x1");
  out << line;
  for (size_t s = 1; s < o.length_scales.size(); ++s) {
    std::snprintf(line, sizeof(line), " %8s", ("x" + format("%g", o.length_scales[s]) + "/x1").c_str());
    out << line;
  }
  std::snprintf(line, sizeof(line), " %10s %10s %10s  %s\n", "CV (MC)", "CV (paper)", "MC/paper",
                "bias");
  out << line;
  for (const auto& study : result.estimators) {
    const double base = study.monte_carlo[0].expectation / o.gradient_mean;
    std::snprintf(line, sizeof(line), "%-20s %11.4g", study.label.c_str(), base);
    out << line;
    for (size_t s = 1; s < o.length_scales.size(); ++s) {
      std::snprintf(line, sizeof(line), " %8.4f",
                    study.monte_carlo[s].expectation / o.gradient_mean / base);
      out << line;
    }
    const double cv_mc = study.monte_carlo[0].coefficient_of_variation();
    const double cv_paper = study.closed_form[0].coefficient_of_variation();
    std::snprintf(line, sizeof(line), " %10.4f %10.4f %10.4f  %s\n", cv_mc, cv_paper,
                  cv_mc / cv_paper,
                  study.unbiased_by_construction ? "unbiased" : "biased (shrinks as L grows)");
    out << line;
  }
}

nlohmann::ordered_json synthetic_study_json(const SyntheticStudyResult& result) {
  const SyntheticStudyOptions& o = result.options;
  nlohmann::ordered_json json;
  json["options"] = {{"lengths", o.length_spec}, {"beta", o.beta},
                     {"groups", o.num_groups},   {"group_size", o.group_size},
                     {"trials", o.trials},       {"seed", o.seed},
                     {"length_scales", o.length_scales},
                     {"max_response_length", result.max_response_length},
                     {"gradient_mean", o.gradient_mean}, {"token_variance", o.token_variance}};
  json["lengths"] = result.base_lengths;
  for (const auto& study : result.estimators) {
    nlohmann::ordered_json entry;
    entry["label"] = study.label;
    entry["mode"] = aggregation_mode_name(study.config.mode);
    if (study.config.mode == AggregationMode::kDeltaL) {
      entry["alpha"] = study.config.alpha;
      entry["scope"] = delta_l_scope_name(study.config.scope);
    }
    entry["unbiased"] = study.unbiased_by_construction;
    for (size_t s = 0; s < o.length_scales.size(); ++s) {
      entry["by_length_scale"].push_back({{"length_scale", o.length_scales[s]},
                                          {"monte_carlo", moments_json(study.monte_carlo[s])},
                                          {"closed_form", moments_json(study.closed_form[s])}});
    }
    json["estimators"].push_back(entry);
  }
  return json;
}

void register_gradstats_command(CLI::App& app, Status* status) {
  auto options = std::make_shared<GradstatsOptions>();
  SyntheticStudyOptions& study = options->study;
  CLI::App* command = app.add_subcommand(
      "gradstats", "Gradient variance and bias of every aggregation mode (the paper's analysis)");
  command->add_flag("--synthetic", options->synthetic,
                    "Monte Carlo of gradients with Var ∝ L^beta (required for now; the live-model "
                    "study comes with the trainer)")->required();
  command->add_option("--lengths", study.length_spec,
                      "uniform:LO..HI | lognormal:MEDIAN,SIGMA | fixed:L1,L2,...")->capture_default_str();
  command->add_option("--beta", study.beta, "variance exponent: Var[g_i] = V*L^beta")->capture_default_str();
  command->add_option("--groups", study.num_groups, "prompt groups per step")->capture_default_str();
  command->add_option("--group-size", study.group_size, "samples per group")->capture_default_str();
  command->add_option("--trials", study.trials, "Monte Carlo draws")->capture_default_str();
  command->add_option("--seed", study.seed, "random seed")->capture_default_str();
  command->add_option("--max-len", study.max_response_length,
                      "M (0: the longest length at the largest scale)")->capture_default_str();
  command->add_option("--alphas", study.delta_l_alphas, "delta-l exponents to compare")
      ->delimiter(',')->capture_default_str();
  command->add_option("--length-scales", study.length_scales,
                      "multiply all lengths by each, M fixed, to expose bias")
      ->delimiter(',')->capture_default_str();
  command->add_option("--token-variance", study.token_variance,
                      "V in Var[g_i] = V*L^beta, with E[g_i] = 1 (sets the noise level, not the ranking)")
      ->capture_default_str();
  command->add_option("--scope", options->scope, "delta-l normalization: group | batch")
      ->capture_default_str();
  command->add_option("--json", options->json_path, "also write the results as JSON to this file");
  command->callback([options, status] {
    try {
      options->study.delta_l_scope = parse_delta_l_scope(options->scope);
      const SyntheticStudyResult result = run_synthetic_study(options->study);
      print_synthetic_study(result, std::cout);
      if (!options->json_path.empty()) {
        AtomicFileWriter writer(options->json_path);
        writer.stream() << synthetic_study_json(result).dump(2) << '\n';
        writer.commit();
        std::cout << "\nwrote " << options->json_path << "\n";
      }
      *status = Status();
    } catch (const InputError& error) {
      *status = Status(StatusCode::kInvalidArgument, error.what());
    } catch (const std::runtime_error& error) {
      *status = Status(StatusCode::kInvalidArgument, error.what());
    }
  });
}

}  // namespace deltarl

#include "cli/gradstats_command.h"

#include <cstdio>
#include <iostream>
#include <memory>

#include "core/atomic_file_writer.h"
#include "core/file_system.h"
#include "core/input_error.h"
#include "core/model/hf_checkpoint.h"
#include "core/tokenizer/tokenizer.h"
#include "trainer/gradstats/live_study.h"

namespace deltarl {

namespace {

struct GradstatsOptions {
  bool synthetic = false;
  std::string model, data;
  bool suggest_alpha = false;
  LiveStudyOptions live;
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

void run_live_gradstats(GradstatsOptions& options) {
  if (options.data.empty()) throw InputError("gradstats --model needs --data FILE (the task's prompts)");
  options.live.seed = options.study.seed;
  CausalLM model = load_pretrained(options.model);
  const Tokenizer tokenizer = Tokenizer::from_file(join_path(options.model, "tokenizer.json"));
  const LiveStudyResult result = run_live_study(model, tokenizer, options.data, options.live);
  std::cout << "deltarl gradstats --model " << options.model << ": " << result.samples << " responses ("
            << options.live.prompts_count << " prompts x " << options.live.samples_per_prompt << ", T "
            << options.live.temperature << "), mean reward " << format("%.3f", result.mean_reward) << "\n";
  std::cout << "per-response gradient of sum_t log p (CountSketch, " << options.live.sketch_dimensions
            << " buckets), variance by length bin:\n";
  for (const auto& bin : result.bins) {
    std::cout << "  L " << format("%7.1f", bin.mean_length) << "  n " << bin.samples << "  Var "
              << format("%.4e", bin.gradient_variance) << "\n";
  }
  std::cout << "fit Var = c * L^beta: beta " << format("%.3f", result.beta) << ", R^2 "
            << format("%.3f", result.r_squared) << "\n";
  std::cout << "coefficient of variation of each mode's estimator sum_i w_i g_i (" << options.live.groups_per_batch
            << " groups per batch, bootstrap):\n";
  for (const auto& mode : result.modes) {
    std::cout << "  " << mode.label << std::string(10 - std::min<size_t>(10, mode.label.size()), ' ') << " CV "
              << format("%.4f", mode.cv) << "\n";
  }
  if (options.suggest_alpha) {
    std::cout << "suggested alpha: " << format("%.2f", result.suggested_alpha)
              << " (the minimum-variance weight is L^-beta; --set algorithm.alpha=" << format("%.2f", result.suggested_alpha)
              << ")\n";
  }
  if (!options.json_path.empty()) {
    nlohmann::ordered_json json;
    json["model"] = options.model;
    json["samples"] = result.samples;
    json["mean_reward"] = result.mean_reward;
    json["beta"] = result.beta;
    json["r_squared"] = result.r_squared;
    json["suggested_alpha"] = result.suggested_alpha;
    for (const auto& bin : result.bins) {
      json["bins"].push_back({{"mean_length", bin.mean_length}, {"samples", bin.samples},
                              {"gradient_variance", bin.gradient_variance}});
    }
    for (const auto& mode : result.modes) json["modes"].push_back({{"label", mode.label}, {"cv", mode.cv}});
    json["lengths"] = result.lengths;
    json["squared_norms"] = result.squared_norms;
    AtomicFileWriter writer(options.json_path);
    writer.stream() << json.dump(2) << '\n';
    writer.commit();
    std::cout << "wrote " << options.json_path << "\n";
  }
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
  command->add_flag("--synthetic", options->synthetic, "Monte Carlo of gradients with Var ∝ L^beta");
  command->add_option("--model", options->model,
                      "instead: measure on this model's real rollouts (HF folder with tokenizer.json)");
  command->add_option("--data", options->data, "--model: the task's JSONL prompts");
  command->add_option("--task", options->live.prompts.task, "--model: countdown | math | synthetic")->capture_default_str();
  command->add_option("--prompt-template", options->live.prompts.prompt_template, "--model: as data.prompt_template")
      ->capture_default_str();
  command->add_option("--prompts", options->live.prompts_count, "--model: prompts sampled (groups)")
      ->capture_default_str();
  command->add_option("--samples", options->live.samples_per_prompt, "--model: responses per prompt")
      ->capture_default_str();
  command->add_option("--temperature", options->live.temperature, "--model: sampling temperature")
      ->capture_default_str();
  command->add_option("--max-new-tokens", options->live.max_new_tokens, "--model")->capture_default_str();
  command->add_option("--sketch", options->live.sketch_dimensions, "--model: CountSketch size of each gradient")
      ->capture_default_str();
  command->add_option("--bins", options->live.length_bins, "--model: length bins for the Var ∝ L^beta fit")
      ->capture_default_str();
  command->add_option("--batch-groups", options->live.groups_per_batch, "--model: groups per bootstrap batch")
      ->capture_default_str();
  command->add_flag("--suggest-alpha", options->suggest_alpha, "--model: propose the ΔL alpha from the fitted beta");
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
      if (options->synthetic == !options->model.empty()) {
        throw InputError("gradstats needs exactly one of --synthetic or --model DIR (with --data FILE)");
      }
      if (!options->model.empty()) {
        run_live_gradstats(*options);
        *status = Status();
        return;
      }
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

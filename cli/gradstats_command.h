// `deltarl gradstats --synthetic`: Monte Carlo of per-sample gradients whose
// variance grows as L^β, reporting for every aggregation mode the expected scale
// (bias), variance and coefficient of variation beside the paper's closed forms
// (trainer/gradstats/synthetic_study.h). A table on the console; JSON on request.
#pragma once

#include <ostream>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/status.h"
#include "trainer/gradstats/synthetic_study.h"

namespace deltarl {

void register_gradstats_command(CLI::App& app, Status* status);

// The console table for a study.
void print_synthetic_study(const SyntheticStudyResult& result, std::ostream& output);
// The same as JSON: options, lengths, and per estimator and scale the measured and
// closed-form expectation, variance and CV.
nlohmann::ordered_json synthetic_study_json(const SyntheticStudyResult& result);

}  // namespace deltarl

#include "trainer/gradstats/length_distribution.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/input_error.h"

namespace deltarl {

namespace {

[[noreturn]] void bad_spec(const std::string& spec, const std::string& why) {
  throw InputError("length distribution \"" + spec + "\": " + why +
                   " (expected uniform:LO..HI, lognormal:MEDIAN,SIGMA or fixed:L1,L2,...)");
}

double parse_number(const std::string& text, const std::string& spec) {
  try {
    size_t used = 0;
    const double value = std::stod(text, &used);
    if (used != text.size() || !std::isfinite(value)) bad_spec(spec, "\"" + text + "\" is not a number");
    return value;
  } catch (const std::logic_error&) {
    bad_spec(spec, "\"" + text + "\" is not a number");
  }
}

int64_t parse_length(const std::string& text, const std::string& spec) {
  const double value = parse_number(text, spec);
  if (value < 1 || std::floor(value) != value || value > 1e9) {
    bad_spec(spec, "\"" + text + "\" is not a length (an integer >= 1)");
  }
  return static_cast<int64_t>(value);
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, separator)) parts.push_back(part);
  return parts;
}

}  // namespace

LengthDistribution LengthDistribution::parse(const std::string& spec) {
  LengthDistribution distribution;
  distribution.spec_ = spec;
  const auto colon = spec.find(':');
  if (colon == std::string::npos) bad_spec(spec, "missing ':'");
  const std::string kind = spec.substr(0, colon);
  const std::string arguments = spec.substr(colon + 1);
  if (kind == "uniform") {
    const auto dots = arguments.find("..");
    if (dots == std::string::npos) bad_spec(spec, "uniform needs LO..HI");
    distribution.kind_ = Kind::kUniform;
    distribution.low_ = parse_length(arguments.substr(0, dots), spec);
    distribution.high_ = parse_length(arguments.substr(dots + 2), spec);
    if (distribution.low_ > distribution.high_) bad_spec(spec, "LO is greater than HI");
  } else if (kind == "lognormal") {
    const auto parts = split(arguments, ',');
    if (parts.size() != 2) bad_spec(spec, "lognormal needs MEDIAN,SIGMA");
    distribution.kind_ = Kind::kLogNormal;
    distribution.median_ = parse_number(parts[0], spec);
    distribution.sigma_ = parse_number(parts[1], spec);
    if (distribution.median_ < 1) bad_spec(spec, "MEDIAN must be >= 1");
    if (distribution.sigma_ < 0) bad_spec(spec, "SIGMA must be >= 0");
  } else if (kind == "fixed") {
    distribution.kind_ = Kind::kFixed;
    for (const auto& part : split(arguments, ',')) distribution.fixed_.push_back(parse_length(part, spec));
    if (distribution.fixed_.empty()) bad_spec(spec, "fixed needs at least one length");
  } else {
    bad_spec(spec, "unknown kind \"" + kind + "\"");
  }
  return distribution;
}

std::vector<int64_t> LengthDistribution::draw(int64_t count, std::mt19937_64& generator) const {
  std::vector<int64_t> lengths;
  lengths.reserve(static_cast<size_t>(count));
  std::uniform_int_distribution<int64_t> uniform(low_, high_);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (int64_t i = 0; i < count; ++i) {
    switch (kind_) {
      case Kind::kUniform: lengths.push_back(uniform(generator)); break;
      case Kind::kLogNormal: {
        const double value = std::round(median_ * std::exp(sigma_ * normal(generator)));
        lengths.push_back(static_cast<int64_t>(std::clamp(value, 1.0, 1e9)));
        break;
      }
      case Kind::kFixed: lengths.push_back(fixed_[static_cast<size_t>(i) % fixed_.size()]); break;
    }
  }
  return lengths;
}

}  // namespace deltarl

#include "l2sweep/compare/curves.h"

#include <fmt/format.h>

#include <algorithm>

#include "l2sweep/base/error.h"
#include "l2sweep/base/parse.h"

namespace l2sweep::compare {

bool is_curve_metric(const std::string& name) {
  return std::any_of(std::begin(kCurveMetrics), std::end(kCurveMetrics),
                     [&](const char* metric) { return name == metric; });
}

int64_t RunCurves::epochs() const {
  size_t longest = 0;
  for (const auto& [name, values] : metrics) longest = std::max(longest, values.size());
  return static_cast<int64_t>(longest);
}

const std::vector<double>* RunCurves::find(const std::string& metric) const {
  const auto found = metrics.find(metric);
  return found == metrics.end() ? nullptr : &found->second;
}

RunLabel parse_label(const std::string& text) {
  RunLabel label;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    const size_t equals = item.find('=');
    const std::string key = item.substr(0, equals);
    const std::string value = equals == std::string::npos ? "" : item.substr(equals + 1);
    if (key == "l2" && !label.l2) {
      const auto l2 = parse_double(value);
      if (!l2 || !(*l2 >= 0) || *l2 == std::numeric_limits<double>::infinity()) {
        throw usage_error("--label '{}': l2 '{}' is not a non-negative number", text, value);
      }
      label.l2 = *l2;
    } else if (key == "seed" && !label.seed) {
      const auto seed = parse_int64(value);
      if (!seed) throw usage_error("--label '{}': seed '{}' is not an integer", text, value);
      label.seed = *seed;
    } else {
      throw usage_error("--label '{}': expected l2=STRENGTH[,seed=N]", text);
    }
    start = end + 1;
  }
  if (!label.l2) throw usage_error("--label '{}': expected l2=STRENGTH[,seed=N]", text);
  return label;
}

std::string run_name(const RunCurves& run) {
  return run.seed ? fmt::format("l2={} seed={}", run.l2, *run.seed) : fmt::format("l2={}", run.l2);
}

}  // namespace l2sweep::compare

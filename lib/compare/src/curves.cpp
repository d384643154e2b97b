#include "l2sweep/compare/curves.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

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

namespace {

/// The items of "key=value,key=value", in order; a usage Error for an item without '='.
std::vector<std::pair<std::string, std::string>> items_of(const std::string& text,
                                                          const std::string& option) {
  std::vector<std::pair<std::string, std::string>> items;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    const size_t equals = item.find('=');
    if (equals == std::string::npos) {
      throw usage_error("{} '{}': '{}' is not KEY=VALUE (lists take no spaces)", option, text,
                        item);
    }
    items.emplace_back(item.substr(0, equals), item.substr(equals + 1));
    start = end + 1;
  }
  return items;
}

}  // namespace

RunLabel parse_label(const std::string& text) {
  RunLabel label;
  const std::string context = fmt::format("--label '{}'", text);
  for (const auto& [key, value] : items_of(text, "--label")) {
    if (key == "l2" && !label.l2) {
      const auto l2 = parse_double(value);
      if (!l2 || !(*l2 >= 0) || *l2 == std::numeric_limits<double>::infinity()) {
        throw usage_error("--label '{}': l2 '{}' is not a non-negative number", text, value);
      }
      label.l2 = *l2;
    } else if (key == "seed" && !label.seed) {
      const auto seed = parse_uint64(value);
      if (!seed) {
        throw usage_error("--label '{}': seed '{}'; expected an integer from 0 to 2^64-1", text,
                          value);
      }
      label.seed = *seed;
    } else if (key != "l2" && key != "seed" && label.setup.count(key) == 0) {
      label.setup[key] = given_setting(key, value, context);
    } else {
      throw usage_error("--label '{}': {} given twice", text, key);
    }
  }
  if (!label.l2)
    throw usage_error("--label '{}': expected l2=STRENGTH[,seed=N][,SETTING=VALUE...]", text);
  return label;
}

std::map<std::string, std::string> parse_setup(const std::string& text) {
  std::map<std::string, std::string> setup;
  const std::string context = fmt::format("--setup '{}'", text);
  for (const auto& [key, value] : items_of(text, "--setup")) {
    if (key == "l2" || key == "seed") {
      throw usage_error("{}: {} is each run's own; give it with --label or a pattern", context,
                        key);
    }
    if (setup.count(key) > 0) throw usage_error("{}: {} given twice", context, key);
    setup[key] = given_setting(key, value, context);
  }
  return setup;
}

std::string setting_name(double l2, double dropout, double weight_decay) {
  std::string text = fmt::format("l2={}", l2);
  if (dropout != 0) text += fmt::format(" dropout={}", dropout);
  if (weight_decay != 0) text += fmt::format(" weight_decay={}", weight_decay);
  return text;
}

std::string run_name(const RunCurves& run) {
  const std::string setting = setting_name(run.l2, run.dropout, run.weight_decay);
  return run.seed ? fmt::format("{} seed={}", setting, *run.seed) : setting;
}

}  // namespace l2sweep::compare

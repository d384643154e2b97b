#include "l2sweep/compare/statistics.h"

#include <cmath>
#include <limits>

namespace l2sweep::compare {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
/// Standard normal quantiles for kAlpha (two-sided) and kPower.
constexpr double kZAlpha = 1.959963984540054;
constexpr double kZPower = 0.8416212335729143;

}  // namespace

TestResult welch_t_test(const SeedStats& a, const SeedStats& b) {
  TestResult result;
  const double va = a.std * a.std / static_cast<double>(a.n);
  const double vb = b.std * b.std / static_cast<double>(b.n);
  const double difference = b.mean - a.mean;
  if (va + vb == 0) {  // no spread on either side: any difference is certain
    result.statistic = difference == 0 ? 0.0 : std::copysign(INFINITY, difference);
    result.df = static_cast<double>(a.n + b.n - 2);
    result.p = difference == 0 ? 1.0 : 0.0;
    return result;
  }
  result.statistic = difference / std::sqrt(va + vb);
  result.df = (va + vb) * (va + vb) /
              (va * va / static_cast<double>(a.n - 1) + vb * vb / static_cast<double>(b.n - 1));
  result.p = student_t_two_sided_p(result.statistic, result.df);
  return result;
}

TestResult z_test(const SeedStats& group, double x) {
  TestResult result;
  const double difference = x - group.mean;
  result.df = static_cast<double>(group.n - 1);
  if (group.std == 0) {
    result.statistic = difference == 0 ? 0.0 : std::copysign(INFINITY, difference);
    result.p = difference == 0 ? 1.0 : 0.0;
    return result;
  }
  result.statistic = difference / group.std;
  const double t = difference / (group.std * std::sqrt(1.0 + 1.0 / static_cast<double>(group.n)));
  result.p = student_t_two_sided_p(t, result.df);
  return result;
}

std::optional<int64_t> seeds_to_resolve(double difference, double std) {
  if (!std::isfinite(difference) || !std::isfinite(std) || difference == 0 || std <= 0) {
    return std::nullopt;
  }
  const double ratio = std / difference;
  const double n =
      2.0 * (kZAlpha + kZPower) * (kZAlpha + kZPower) * ratio * ratio + kZAlpha * kZAlpha / 4.0;
  if (n > 1e9) return std::nullopt;
  return std::max<int64_t>(2, static_cast<int64_t>(std::ceil(n)));
}

double second_half_residual_std(const std::vector<double>& values) {
  const size_t first = values.size() / 2;
  const size_t n = values.size() - first;
  if (n < 4) return kNaN;
  double mean_x = 0, mean_y = 0;
  for (size_t i = first; i < values.size(); ++i) {
    mean_x += static_cast<double>(i);
    mean_y += values[i];
  }
  mean_x /= static_cast<double>(n);
  mean_y /= static_cast<double>(n);
  double sxy = 0, sxx = 0;
  for (size_t i = first; i < values.size(); ++i) {
    sxy += (static_cast<double>(i) - mean_x) * (values[i] - mean_y);
    sxx += (static_cast<double>(i) - mean_x) * (static_cast<double>(i) - mean_x);
  }
  const double slope = sxy / sxx;
  double squares = 0;
  for (size_t i = first; i < values.size(); ++i) {
    const double residual = values[i] - (mean_y + slope * (static_cast<double>(i) - mean_x));
    squares += residual * residual;
  }
  return std::sqrt(squares / static_cast<double>(n - 2));
}

double pooled_std(const std::vector<SeedStats>& groups) {
  double squares = 0, degrees = 0;
  for (const SeedStats& group : groups) {
    if (group.n < 2 || !std::isfinite(group.std)) continue;
    squares += static_cast<double>(group.n - 1) * group.std * group.std;
    degrees += static_cast<double>(group.n - 1);
  }
  return degrees > 0 ? std::sqrt(squares / degrees) : kNaN;
}

}  // namespace l2sweep::compare

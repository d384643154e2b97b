#include "l2sweep/stats/statistics.h"

#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <boost/math/special_functions/beta.hpp>
#include <cmath>
#include <limits>

namespace l2sweep {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
/// Boost.Math's errors as NaN (or infinity) results rather than exceptions: callers check
/// their inputs, and a statistic nobody can compute reads "cannot tell", not a crash.
using QuietPolicy = boost::math::policies::policy<
    boost::math::policies::domain_error<boost::math::policies::ignore_error>,
    boost::math::policies::overflow_error<boost::math::policies::ignore_error>,
    boost::math::policies::evaluation_error<boost::math::policies::ignore_error>,
    // double throughout, not long double, whose width differs between machines.
    boost::math::policies::promote_double<false>>;
/// Standard normal quantiles for kSignificance (two-sided) and kPower.
const double kZAlpha = boost::math::quantile(
    boost::math::normal_distribution<double, QuietPolicy>(), 1.0 - kSignificance / 2.0);
const double kZPower =
    boost::math::quantile(boost::math::normal_distribution<double, QuietPolicy>(), kPower);

}  // namespace

SeedStats seed_stats(const std::vector<double>& values) {
  SeedStats stats;
  stats.n = static_cast<int64_t>(values.size());
  if (values.empty()) {
    return stats;
  }
  double sum = 0;
  for (const double v : values) sum += v;
  stats.mean = sum / static_cast<double>(values.size());
  if (values.size() > 1) {
    double squares = 0;
    for (const double v : values) squares += (v - stats.mean) * (v - stats.mean);
    stats.std = std::sqrt(squares / static_cast<double>(values.size() - 1));
  }
  return stats;
}

double regularized_incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  return boost::math::ibeta(a, b, x, QuietPolicy());
}

double student_t_two_sided_p(double t, double df) {
  if (std::isnan(t) || !(df > 0)) return kNaN;
  if (std::isinf(t)) return 0;
  const boost::math::students_t_distribution<double, QuietPolicy> distribution(df);
  return 2.0 * boost::math::cdf(boost::math::complement(distribution, std::fabs(t)));
}

double paired_t_p(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> differences;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) differences.push_back(a[i] - b[i]);
  const SeedStats d = seed_stats(differences);
  if (d.n < 2 || std::isnan(d.std)) return kNaN;
  // Differences all alike (up to the rounding of values such as counts / N, where equal counts
  // give differences a few ulps apart): no spread to test against.
  if (d.std <= 1e-12 * std::max(1.0, std::fabs(d.mean))) {
    return std::fabs(d.mean) <= 1e-12 ? 1.0 : kNaN;
  }
  return student_t_two_sided_p(d.mean / (d.std / std::sqrt(static_cast<double>(d.n))),
                               static_cast<double>(d.n - 1));
}

std::optional<int64_t> paired_seeds_to_resolve(double difference, double std) {
  if (!std::isfinite(difference) || !std::isfinite(std) || difference == 0 || std <= 0) {
    return std::nullopt;
  }
  const double ratio = (kZAlpha + kZPower) * std / difference;
  const double n = ratio * ratio + kZAlpha * kZAlpha / 2.0;
  if (n > 1e9) return std::nullopt;
  return std::max<int64_t>(2, static_cast<int64_t>(std::ceil(n)));
}

double relative_trend_of_second_half(const std::vector<double>& values) {
  const size_t count = values.size();
  const size_t first = count >= 6 ? count / 2 : (count > 3 ? count - 3 : 0);
  const size_t n = count - first;
  if (n < 2) return 0.0;
  double mean_x = 0, mean_y = 0;
  for (size_t i = first; i < count; ++i) {
    mean_x += static_cast<double>(i - first);
    mean_y += values[i];
  }
  mean_x /= static_cast<double>(n);
  mean_y /= static_cast<double>(n);
  double covariance = 0, variance = 0;
  for (size_t i = first; i < count; ++i) {
    const double dx = static_cast<double>(i - first) - mean_x;
    covariance += dx * (values[i] - mean_y);
    variance += dx * dx;
  }
  const double slope = covariance / variance;
  return slope * static_cast<double>(n - 1) / mean_y;
}

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

}  // namespace l2sweep

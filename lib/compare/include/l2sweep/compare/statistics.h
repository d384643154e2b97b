#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "l2sweep/outputs/stats.h"

namespace l2sweep::compare {

/// The significance level of every test in compare.md: a difference with p below it differs.
inline constexpr double kAlpha = 0.05;
/// The power seeds_to_resolve plans for.
inline constexpr double kPower = 0.8;

// Student's t and the incomplete beta function live with the seed statistics
// (l2sweep/outputs/stats.h), which the report uses too.
using l2sweep::regularized_incomplete_beta;
using l2sweep::student_t_two_sided_p;

/// Welch's two-sample t-test of `b` against `a` (means and sample deviations of two groups of
/// at least two values each).
struct TestResult {
  double statistic = 0;  ///< t (or z), positive when b is larger
  double df = 0;         ///< degrees of freedom
  double p = 1;          ///< two-sided
};
TestResult welch_t_test(const SeedStats& a, const SeedStats& b);

/// One value `x` against a group of at least two: z = (x - mean) / std, with the p-value of
/// the prediction interval, t = (x - mean) / (std * sqrt(1 + 1/n)) with n - 1 degrees of
/// freedom (a new draw from the group's distribution, not its mean). `statistic` is z.
TestResult z_test(const SeedStats& group, double x);

/// Seeds per side that a two-sample test at kAlpha would need to detect `difference` with
/// kPower when each side's seeds spread by `std`: 2 (z_{1-a/2} + z_{power})^2 std^2 / d^2 plus
/// Guenther's correction z_{1-a/2}^2 / 4, rounded up, at least 2. nullopt when the difference
/// or the spread is 0 or not finite.
std::optional<int64_t> seeds_to_resolve(double difference, double std);

/// The spread of a series around its least-squares line over its second half (at least 4
/// points), with n - 2 in the denominator: epoch-to-epoch noise, a stand-in for the seed
/// spread when no source has several seeds. NaN with too few points.
double second_half_residual_std(const std::vector<double>& values);

/// The pooled standard deviation of groups: sqrt(sum (n_i - 1) s_i^2 / sum (n_i - 1)) over
/// those with n_i >= 2; NaN when there are none.
double pooled_std(const std::vector<SeedStats>& groups);

}  // namespace l2sweep::compare

#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

namespace l2sweep {

/// The significance level of every test l2sweep reports (report.md, the recommendation,
/// compare.md, the --l2 auto search): a difference with p below it is more than the seed
/// spread explains.
inline constexpr double kSignificance = 0.05;
/// The power seeds_to_resolve and paired_seeds_to_resolve plan for.
inline constexpr double kPower = 0.8;

/// Mean and sample standard deviation (n - 1 in the denominator, as pandas' .std()) of one
/// quantity across seeds. `std` is NaN with fewer than two values, `mean` with none.
struct SeedStats {
  int64_t n = 0;
  double mean = std::numeric_limits<double>::quiet_NaN();
  double std = std::numeric_limits<double>::quiet_NaN();
};

SeedStats seed_stats(const std::vector<double>& values);

/// The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1
/// (Boost.Math's ibeta).
double regularized_incomplete_beta(double a, double b, double x);

/// Two-sided p-value of `t` under Student's t distribution with `df` (> 0, may be fractional)
/// degrees of freedom; NaN for a NaN t or df <= 0, 0 for an infinite t.
double student_t_two_sided_p(double t, double df);

/// Two-sided p-value of the paired t-test of `a` against `b` (pairs a[i], b[i] over the shorter
/// length); NaN with fewer than two pairs, or when every difference is the same non-zero value
/// (no spread to test against); 1 when every difference is 0.
double paired_t_p(const std::vector<double>& a, const std::vector<double>& b);

/// Seeds a paired t-test at kSignificance would need to detect a mean per-seed difference
/// `difference` with kPower when the per-seed differences spread by `std`:
/// ((z_{1-α/2} + z_{power}) std / d)^2 + z_{1-α/2}^2 / 2, rounded up, at least 2. nullopt when the
/// difference or the spread is 0 or not finite.
std::optional<int64_t> paired_seeds_to_resolve(double difference, double std);

/// A two-sample (or one-against-a-group) test's outcome.
struct TestResult {
  double statistic = 0;  ///< t (or z), positive when b is larger
  double df = 0;         ///< degrees of freedom
  double p = 1;          ///< two-sided
};

/// Welch's two-sample t-test of `b` against `a` (means and sample deviations of two groups of
/// at least two values each).
TestResult welch_t_test(const SeedStats& a, const SeedStats& b);

/// One value `x` against a group of at least two: z = (x - mean) / std, with the p-value of
/// the prediction interval, t = (x - mean) / (std * sqrt(1 + 1/n)) with n - 1 degrees of
/// freedom (a new draw from the group's distribution, not its mean). `statistic` is z.
TestResult z_test(const SeedStats& group, double x);

/// Seeds per side that a two-sample test at kSignificance would need to detect `difference`
/// with kPower when each side's seeds spread by `std`: 2 (z_{1-a/2} + z_{power})^2 std^2 / d^2
/// plus Guenther's correction z_{1-a/2}^2 / 4, rounded up, at least 2. nullopt when the
/// difference or the spread is 0 or not finite.
std::optional<int64_t> seeds_to_resolve(double difference, double std);

/// The least-squares trend of `values` over their second half (at least 3 points, all of
/// them when fewer): the fitted line's change from first to last point, divided by the mean.
/// 0 when there are fewer than 2 points.
double relative_trend_of_second_half(const std::vector<double>& values);

/// The spread of a series around its least-squares line over its second half (at least 4
/// points), with n - 2 in the denominator: epoch-to-epoch noise, a stand-in for the seed
/// spread when no source has several seeds. NaN with too few points.
double second_half_residual_std(const std::vector<double>& values);

/// The pooled standard deviation of groups: sqrt(sum (n_i - 1) s_i^2 / sum (n_i - 1)) over
/// those with n_i >= 2; NaN when there are none.
double pooled_std(const std::vector<SeedStats>& groups);

}  // namespace l2sweep

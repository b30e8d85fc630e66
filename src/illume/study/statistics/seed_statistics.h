// Statistics over a few seeds (the study's runs, study/study.h): pure functions, no torch, no I/O.
//
// A study has a handful of runs per credit strategy (one per seed), so its intervals and tests are the
// small-sample ones:
//   t interval       mean +- t_{(1+level)/2, n-1} * sd / sqrt(n), sd the sample standard deviation
//                    (n - 1 in the denominator); n = 1 has no interval (lo, hi are NaN).
//   paired t-test    on d_i = a_i - b_i (the same seed, the same prompts and held-out puzzles):
//                    t = mean(d) / (sd(d) / sqrt(n)), two-sided p = 2 * (1 - F_{n-1}(|t|)), F the
//                    Student t distribution function. When every d_i is equal (sd = 0) the test has no
//                    spread: p = 1 when they are all 0, else 0 (the limit of t -> infinity). n = 1: NaN.
//   sign test        the two-sided exact binomial test of #(d > 0) against #(d < 0) with p = 1/2;
//                    ties (d = 0) are dropped (Dixon & Mood 1946).
// The t distribution function is the regularized incomplete beta function (Abramowitz & Stegun 26.7.1):
//   F_nu(t) = 1 - I_x(nu/2, 1/2) / 2 for t >= 0, with x = nu / (nu + t^2), and by symmetry for t < 0;
// I_x(a, b) by the continued fraction of Numerical Recipes (2nd ed., 6.4, "betacf"), and the quantile
// by bisection on F.
#pragma once
#include <cstdint>
#include <vector>

namespace illume::study {

// I_x(a, b) for a, b > 0 and 0 <= x <= 1; fails on other arguments.
double regularized_incomplete_beta(double a, double b, double x);
// The Student t distribution function with `df` > 0 degrees of freedom.
double student_t_cdf(double t, double df);
// The t with student_t_cdf(t, df) = p, for 0 < p < 1 (to ~1e-12).
double student_t_quantile(double p, double df);

struct MeanInterval {
  std::int64_t n = 0;
  double mean = 0, sd = 0, se = 0;  // sd, se: NaN for n = 1
  double lo = 0, hi = 0;            // the interval; NaN for n = 1
  double level = 0.95;
};
// Fails on no values or a non-finite value.
MeanInterval t_interval(const std::vector<double>& values, double level = 0.95);

// The sign test's two-sided p-value: min(1, 2 * P(X <= min(positive, negative))), X ~ Binomial(positive +
// negative, 1/2); 1 when both are 0.
double sign_test_p(std::int64_t positive, std::int64_t negative);

struct PairedTest {
  std::vector<double> differences;  // a_i - b_i
  MeanInterval difference;          // t interval of the differences
  double t = 0;                     // NaN for n = 1; +-inf when sd = 0 and the mean is not 0
  double p_value = 0;               // the paired t-test's two-sided p; NaN for n = 1
  std::int64_t positive = 0, negative = 0, ties = 0;
  double sign_p = 1;                // the sign test's two-sided p
  // The interval of the mean difference lies above 0 (a beats b beyond the seeds' noise); false for n = 1.
  bool excludes_zero_above() const { return difference.n > 1 && difference.lo > 0; }
  bool excludes_zero_below() const { return difference.n > 1 && difference.hi < 0; }
};
// a and b paired by index; fails on empty or different sizes.
PairedTest paired_test(const std::vector<double>& a, const std::vector<double>& b, double level = 0.95);

}  // namespace illume::study

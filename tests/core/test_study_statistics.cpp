// The study's seed statistics (study/statistics/seed_statistics.h) against values computed by hand
// from closed forms (the t distribution with 1 and 2 degrees of freedom, the binomial) and printed
// t tables (Student's t at 97.5%: df 1 12.7062, df 2 4.3027, df 4 2.7764, df 10 2.2281).
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "illume/study/statistics/seed_statistics.h"
#include "illume/util/error.h"

namespace illume::study {
namespace {

TEST(StudyStatistics, IncompleteBetaClosedForms) {
  for (double x : {0.0, 0.1, 0.37, 0.5, 0.9, 1.0}) {
    EXPECT_NEAR(regularized_incomplete_beta(1, 1, x), x, 1e-12);                           // uniform
    EXPECT_NEAR(regularized_incomplete_beta(2, 1, x), x * x, 1e-12);                       // x^2
    EXPECT_NEAR(regularized_incomplete_beta(1, 2, x), 1 - (1 - x) * (1 - x), 1e-12);       // 1 - (1-x)^2
    EXPECT_NEAR(regularized_incomplete_beta(2, 2, x), 3 * x * x - 2 * x * x * x, 1e-12);  // 3x^2 - 2x^3
  }
  EXPECT_NEAR(regularized_incomplete_beta(7.5, 7.5, 0.5), 0.5, 1e-12);  // symmetry
  EXPECT_THROW(regularized_incomplete_beta(0, 1, 0.5), Error);
  EXPECT_THROW(regularized_incomplete_beta(1, 1, 1.5), Error);
}

TEST(StudyStatistics, StudentTDistributionFunction) {
  // df = 1 (Cauchy): 1/2 + atan(t)/pi; df = 2: 1/2 + t / (2 sqrt(t^2 + 2)).
  for (double t : {-30.0, -2.0, -0.3, 0.0, 1.0, 2.0, 5.0}) {
    EXPECT_NEAR(student_t_cdf(t, 1), 0.5 + std::atan(t) / std::numbers::pi, 1e-12) << t;
    EXPECT_NEAR(student_t_cdf(t, 2), 0.5 + t / (2 * std::sqrt(t * t + 2)), 1e-12) << t;
  }
  EXPECT_NEAR(student_t_cdf(1, 1), 0.75, 1e-12);
  EXPECT_NEAR(student_t_cdf(2, 2), 0.9082482904638631, 1e-12);  // 1/2 + 1/sqrt(6)
  EXPECT_NEAR(student_t_cdf(1.96, 1e6), 0.9750021048517795, 1e-6);  // the normal limit
  EXPECT_EQ(student_t_cdf(INFINITY, 3), 1.0);
  EXPECT_THROW(student_t_cdf(1, 0), Error);
}

TEST(StudyStatistics, StudentTQuantileMatchesTables) {
  EXPECT_NEAR(student_t_quantile(0.975, 1), std::tan(std::numbers::pi * 0.475), 1e-9);  // 12.7062
  EXPECT_NEAR(student_t_quantile(0.975, 2), 4.302652729749464, 1e-9);   // 2 / sqrt(1/0.95^2 - 1) ... = sqrt(2/(1-0.95^2))*0.95
  EXPECT_NEAR(student_t_quantile(0.975, 4), 2.7764, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.975, 10), 2.2281, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.025, 2), -4.302652729749464, 1e-9);
  EXPECT_NEAR(student_t_quantile(0.5, 3), 0.0, 1e-12);
  EXPECT_THROW(student_t_quantile(1.0, 3), Error);
}

TEST(StudyStatistics, TIntervalOfThreeSeeds) {
  // {1, 2, 3}: mean 2, sd 1, se 1/sqrt(3); t(0.975, 2) = 4.302653 -> half-width 2.484138.
  auto m = t_interval({1, 2, 3});
  EXPECT_EQ(m.n, 3);
  EXPECT_DOUBLE_EQ(m.mean, 2.0);
  EXPECT_NEAR(m.sd, 1.0, 1e-12);
  EXPECT_NEAR(m.se, 1 / std::sqrt(3.0), 1e-12);
  EXPECT_NEAR(m.lo, 2 - 2.484138, 1e-6);
  EXPECT_NEAR(m.hi, 2 + 2.484138, 1e-6);
  // One seed: a mean and no interval.
  auto one = t_interval({0.4});
  EXPECT_EQ(one.n, 1);
  EXPECT_DOUBLE_EQ(one.mean, 0.4);
  EXPECT_TRUE(std::isnan(one.lo) && std::isnan(one.hi) && std::isnan(one.sd));
  EXPECT_THROW(t_interval({}), Error);
  EXPECT_THROW(t_interval({1, NAN}), Error);
}

TEST(StudyStatistics, SignTestIsTheBinomialTail) {
  EXPECT_DOUBLE_EQ(sign_test_p(3, 0), 0.25);         // 2 * (1/2)^3
  EXPECT_DOUBLE_EQ(sign_test_p(0, 5), 0.0625);       // 2 * (1/2)^5
  EXPECT_NEAR(sign_test_p(8, 2), 2 * 56.0 / 1024, 1e-12);  // 2 * (1 + 10 + 45) / 2^10
  EXPECT_DOUBLE_EQ(sign_test_p(2, 1), 1.0);          // 2 * 4/8, capped
  EXPECT_DOUBLE_EQ(sign_test_p(0, 0), 1.0);
}

TEST(StudyStatistics, PairedTestByHand) {
  // d = {0.1, 0.2, 0.2}: mean 1/6, sd 1/sqrt(300), t = 5; p = 2 (1 - F_2(5)) = 1 - 5/sqrt(27) = 0.037750.
  auto r = paired_test({0.5, 0.6, 0.7}, {0.4, 0.4, 0.5});
  ASSERT_EQ(r.differences.size(), 3u);
  EXPECT_NEAR(r.differences[0], 0.1, 1e-12);
  EXPECT_NEAR(r.difference.mean, 1.0 / 6, 1e-12);
  EXPECT_NEAR(r.difference.sd, 1 / std::sqrt(300.0), 1e-12);
  EXPECT_NEAR(r.t, 5.0, 1e-9);
  EXPECT_NEAR(r.p_value, 1 - 5 / std::sqrt(27.0), 1e-9);
  EXPECT_EQ(r.positive, 3);
  EXPECT_EQ(r.negative, 0);
  EXPECT_DOUBLE_EQ(r.sign_p, 0.25);
  // half-width 4.302653 / sqrt(300) / sqrt(3) * ... = t * se, se = 1/30
  EXPECT_NEAR(r.difference.lo, 1.0 / 6 - 4.302652729749464 / 30, 1e-9);
  EXPECT_TRUE(r.excludes_zero_above());
  EXPECT_FALSE(r.excludes_zero_below());
}

TEST(StudyStatistics, PairedTestEdgeCases) {
  // A tie and one each way: no evidence.
  auto mixed = paired_test({0.3, 0.5, 0.4}, {0.3, 0.4, 0.5});
  EXPECT_EQ(mixed.ties, 1);
  EXPECT_EQ(mixed.positive, 1);
  EXPECT_EQ(mixed.negative, 1);
  EXPECT_NEAR(mixed.difference.mean, 0.0, 1e-12);
  EXPECT_NEAR(mixed.p_value, 1.0, 1e-9);
  EXPECT_FALSE(mixed.excludes_zero_above());
  // Equal differences: no spread; p is the limit.
  auto same = paired_test({0.5, 0.5}, {0.5, 0.5});
  EXPECT_EQ(same.p_value, 1.0);
  auto shifted = paired_test({0.6, 0.7}, {0.5, 0.6});
  EXPECT_NEAR(shifted.difference.sd, 0.0, 1e-12);
  // One seed: a difference, no test.
  auto one = paired_test({0.6}, {0.5});
  EXPECT_TRUE(std::isnan(one.p_value));
  EXPECT_FALSE(one.excludes_zero_above());
  EXPECT_THROW(paired_test({0.1, 0.2}, {0.1}), Error);
  EXPECT_THROW(paired_test({}, {}), Error);
}

}  // namespace
}  // namespace illume::study

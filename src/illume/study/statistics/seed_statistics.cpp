#include "illume/study/statistics/seed_statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "illume/util/error.h"

namespace illume::study {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The continued fraction of I_x(a, b) (Numerical Recipes 6.4, betacf), by the modified Lentz method;
// converges fast for x < (a + 1) / (a + b + 2).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double tiny = 1e-300, epsilon = 1e-15;
  const double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::abs(d) < tiny) d = tiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 1000; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));  // the even step
    d = 1 + aa * d;
    if (std::abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));  // the odd step
    d = 1 + aa * d;
    if (std::abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1) < epsilon) break;
  }
  return h;
}

double sample_sd(const std::vector<double>& values, double mean) {
  double sum = 0;
  for (double v : values) sum += (v - mean) * (v - mean);
  return std::sqrt(sum / static_cast<double>(values.size() - 1));
}

}  // namespace

double regularized_incomplete_beta(double a, double b, double x) {
  check(a > 0 && b > 0 && x >= 0 && x <= 1, "regularized_incomplete_beta: needs a, b > 0 and 0 <= x <= 1 (got {}, {}, {})",
        a, b, x);
  if (x == 0 || x == 1) return x;
  // x^a (1-x)^b / (a B(a, b)), through logarithms.
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return front * beta_continued_fraction(a, b, x) / a;
  return 1 - front * beta_continued_fraction(b, a, 1 - x) / b;  // I_x(a, b) = 1 - I_{1-x}(b, a)
}

double student_t_cdf(double t, double df) {
  check(df > 0, "student_t_cdf: degrees of freedom must be positive (got {})", df);
  if (std::isnan(t)) return kNaN;
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  const double tail = 0.5 * regularized_incomplete_beta(df / 2, 0.5, df / (df + t * t));  // P(T > |t|)
  return t >= 0 ? 1 - tail : tail;
}

double student_t_quantile(double p, double df) {
  check(p > 0 && p < 1, "student_t_quantile: p must be in (0, 1) (got {})", p);
  if (p < 0.5) return -student_t_quantile(1 - p, df);
  double lo = 0, hi = 1;
  while (student_t_cdf(hi, df) < p) hi *= 2;  // df = 1, p = 0.9999: about 3183
  for (int i = 0; i < 200 && hi - lo > 1e-13 * std::max(1.0, hi); ++i) {
    const double mid = 0.5 * (lo + hi);
    (student_t_cdf(mid, df) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

MeanInterval t_interval(const std::vector<double>& values, double level) {
  check(!values.empty(), "t_interval: no values");
  check(level > 0 && level < 1, "t_interval: level must be in (0, 1) (got {})", level);
  MeanInterval r;
  r.n = static_cast<std::int64_t>(values.size());
  r.level = level;
  double sum = 0;
  for (double v : values) {
    check(std::isfinite(v), "t_interval: a value is not finite ({})", v);
    sum += v;
  }
  r.mean = sum / static_cast<double>(r.n);
  if (r.n < 2) {
    r.sd = r.se = r.lo = r.hi = kNaN;
    return r;
  }
  r.sd = sample_sd(values, r.mean);
  r.se = r.sd / std::sqrt(static_cast<double>(r.n));
  const double half = student_t_quantile(0.5 + level / 2, static_cast<double>(r.n - 1)) * r.se;
  r.lo = r.mean - half;
  r.hi = r.mean + half;
  return r;
}

double sign_test_p(std::int64_t positive, std::int64_t negative) {
  check(positive >= 0 && negative >= 0, "sign_test_p: negative counts ({}, {})", positive, negative);
  const std::int64_t n = positive + negative, k = std::min(positive, negative);
  if (n == 0) return 1.0;
  // P(X <= k) = sum_{i <= k} C(n, i) / 2^n, each term through logarithms (n may be large).
  double tail = 0;
  for (std::int64_t i = 0; i <= k; ++i)
    tail += std::exp(std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) - n * std::log(2.0));
  return std::min(1.0, 2 * tail);
}

PairedTest paired_test(const std::vector<double>& a, const std::vector<double>& b, double level) {
  check(!a.empty() && a.size() == b.size(), "paired_test: needs two equal, non-empty lists (got {} and {} values)", a.size(),
        b.size());
  PairedTest r;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = a[i] - b[i];
    r.differences.push_back(d);
    (d > 0 ? r.positive : d < 0 ? r.negative : r.ties) += 1;
  }
  r.difference = t_interval(r.differences, level);
  r.sign_p = sign_test_p(r.positive, r.negative);
  const auto& m = r.difference;
  if (m.n < 2) {
    r.t = r.p_value = kNaN;
  } else if (m.sd == 0) {
    r.t = m.mean == 0 ? 0.0 : std::copysign(std::numeric_limits<double>::infinity(), m.mean);
    r.p_value = m.mean == 0 ? 1.0 : 0.0;
  } else {
    r.t = m.mean / m.se;
    r.p_value = std::min(1.0, 2 * (1 - student_t_cdf(std::abs(r.t), static_cast<double>(m.n - 1))));
  }
  return r;
}

}  // namespace illume::study

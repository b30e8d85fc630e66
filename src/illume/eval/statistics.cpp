#include "illume/eval/statistics.h"

#include <fmt/format.h>

#include <cmath>

#include "illume/util/error.h"

namespace illume::eval {

double pass_at_k(std::int64_t n, std::int64_t c, std::int64_t k) {
  if (n < 1 || c < 0 || c > n || k < 1 || k > n)
    fail("pass@k: need 0 <= c <= n and 1 <= k <= n (n = {}, c = {}, k = {})", n, c, k);
  if (n - c < k) return 1.0;  // every k-subset holds a correct sample
  // C(n-c, k) / C(n, k) = prod_{i = n-c+1}^{n} (i - k) / i
  double none_correct = 1.0;
  for (std::int64_t i = n - c + 1; i <= n; ++i) none_correct *= 1.0 - static_cast<double>(k) / static_cast<double>(i);
  return 1.0 - none_correct;
}

std::vector<std::int64_t> reported_ks(std::int64_t n) {
  std::vector<std::int64_t> ks;
  for (std::int64_t k = 1; k < n; k *= 2) ks.push_back(k);
  if (n >= 1) ks.push_back(n);
  return ks;
}

Json sample_statistics(const std::vector<std::vector<ScoredSample>>& samples) {
  if (samples.empty()) fail("eval: no problems to summarise");
  const auto n = static_cast<std::int64_t>(samples.front().size());
  if (n < 1) fail("eval: a problem has no samples");
  const std::vector<std::int64_t> ks = reported_ks(n);
  std::vector<double> pass_sum(ks.size(), 0.0);
  double reward_sum = 0, length_sum = 0;
  std::int64_t correct = 0, formatted_wrong = 0, unformatted = 0;
  for (const auto& problem : samples) {
    if (static_cast<std::int64_t>(problem.size()) != n)
      fail("eval: every problem needs the same number of samples ({} vs {})", problem.size(), n);
    std::int64_t c = 0;
    for (const auto& s : problem) {
      c += s.correct;
      formatted_wrong += s.formatted && !s.correct;
      unformatted += !s.formatted;
      reward_sum += s.reward;
      length_sum += static_cast<double>(s.length);
    }
    correct += c;
    for (std::size_t i = 0; i < ks.size(); ++i) pass_sum[i] += pass_at_k(n, c, ks[i]);
  }
  const double problems = static_cast<double>(samples.size());
  const double responses = problems * static_cast<double>(n);
  Json out = {{"problems", samples.size()}, {"samples_per_problem", n}};
  // pass@1 == avg@n exactly: both are the mean of c / n (summed as counts, so no rounding apart).
  const double mean_correct = static_cast<double>(correct) / responses;
  out["pass@1"] = mean_correct;
  out[fmt::format("avg@{}", n)] = mean_correct;
  out["avg@k"] = mean_correct;
  for (std::size_t i = 1; i < ks.size(); ++i) out[fmt::format("pass@{}", ks[i])] = pass_sum[i] / problems;
  out["pass@k"] = pass_sum.back() / problems;
  out["reward_mean"] = reward_sum / responses;
  out["correct_responses"] = correct;
  out["formatted_but_wrong_responses"] = formatted_wrong;
  out["unformatted_responses"] = unformatted;
  out["response_length_mean"] = length_sum / responses;
  return out;
}

CurveSummary summarize_curve(const std::vector<CurvePoint>& points, double alpha) {
  if (points.empty()) fail("eval curve: no evaluation points");
  if (!(alpha > 0 && alpha <= 1)) fail("eval curve: the EMA weight must be in (0, 1], got {}", alpha);
  CurveSummary out;
  double ema = 0;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const auto& p = points[i];
    if (!std::isfinite(p.value)) fail("eval curve: the value at step {} is not finite", p.step);
    if (i > 0 && p.step <= points[i - 1].step)
      fail("eval curve: steps must increase (step {} after step {})", p.step, points[i - 1].step);
    ema = i == 0 ? p.value : alpha * p.value + (1 - alpha) * ema;
    out.ema.push_back(ema);
    if (i == 0 || p.value > out.peak.value) out.peak = p;
    if (i == 0 || ema > out.peak_ema.value) out.peak_ema = {p.step, ema};
  }
  out.last = points.back();
  return out;
}

Json curve_summary_json(const CurveSummary& s, double alpha) {
  auto point = [](const CurvePoint& p) { return Json{{"step", p.step}, {"value", p.value}}; };
  return {{"last", point(s.last)},
          {"peak", point(s.peak)},
          {"peak_ema", point(s.peak_ema)},
          {"ema_alpha", alpha},
          {"points", s.ema.size()}};
}

}  // namespace illume::eval

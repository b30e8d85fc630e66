// Evaluation statistics (METHOD.md section 5), pure functions over scored samples: no model, no I/O.
//
// With n samples per problem of which c are correct:
//   pass@1 = mean over problems of c / n        (greedy: n = 1, the greedy answer's correctness)
//   avg@n  = the same number under the name the paper gives AIME's mean over 16 samples (avg@16)
//   pass@k = mean over problems of 1 - C(n-c, k) / C(n, k), for 1 <= k <= n: the unbiased estimator
//            of "at least one of k samples is correct" (Chen et al. 2021, "Evaluating Large Language
//            Models Trained on Code"); pass@n is the share of problems with any correct sample.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "illume/util/json.h"

namespace illume::eval {

// 1 - C(n-c, k) / C(n, k), computed as 1 - prod_{i = n-c+1}^{n} (1 - k / i), which stays within
// [0, 1] without forming binomials (n may be large). Fails unless 0 <= c <= n and 1 <= k <= n.
double pass_at_k(std::int64_t n, std::int64_t c, std::int64_t k);

// The k reported for n samples: 1, 2, 4, 8, ... below n, then n itself (n = 16: 1 2 4 8 16).
std::vector<std::int64_t> reported_ks(std::int64_t n);

// One scored response.
struct ScoredSample {
  bool correct = false;
  bool formatted = false;  // the answer was found where the task asks for it (countdown: the tag)
  double reward = 0.0;
  std::int64_t length = 0;  // response tokens
};

// The summary statistics of problems x n samples (every problem has the same n >= 1):
//   {"problems", "samples_per_problem", "pass@1", "avg@N", "avg@k", "pass@K" for K in reported_ks(N),
//    "pass@k" (= pass@N), "reward_mean", "correct_responses", "formatted_but_wrong_responses",
//    "unformatted_responses", "response_length_mean"}
// "formatted_but_wrong_responses" counts the responses that get Countdown's format reward (0.1
// under TinyZero's rule). Fails on no problems or uneven n.
Json sample_statistics(const std::vector<std::vector<ScoredSample>>& samples);

// ---- an evaluation curve: accuracy at increasing training steps (in-training evaluation) ----------
//
// What papers report of a training run: the last value, the peak (the maximum), and the peak of the
// exponential moving average over the evaluation points, which rewards a sustained level over one
// lucky evaluation. METHOD.md does not give the paper's smoothing; [ours]: the EMA starts at the
// first point and weighs each new point by alpha = 0.5,
//   ema_0 = v_0,  ema_i = alpha * v_i + (1 - alpha) * ema_{i-1}.
// Ties go to the earliest step (a later equal value is not an improvement).
inline constexpr double kCurveEmaAlpha = 0.5;

struct CurvePoint {
  std::int64_t step = 0;
  double value = 0.0;
  bool operator==(const CurvePoint&) const = default;
};

struct CurveSummary {
  CurvePoint last, peak, peak_ema;  // peak_ema.value is the EMA's value at its maximum
  std::vector<double> ema;          // one per point
};

// Fails on no points, a non-finite value, alpha outside (0, 1], or steps that do not increase.
CurveSummary summarize_curve(const std::vector<CurvePoint>& points, double alpha = kCurveEmaAlpha);

// {"last": {"step", "value"}, "peak": {...}, "peak_ema": {...}, "ema_alpha", "points": N}
Json curve_summary_json(const CurveSummary& summary, double alpha = kCurveEmaAlpha);

}  // namespace illume::eval

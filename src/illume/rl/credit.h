// Attention-guided credit (METHOD.md section 4): a per-token weight gamma[i, t] that later scales the
// response's GRPO advantage, A~[i, t] = gamma[i, t] * A_i (see advantage.h; the sign mode lives there).
//
// Strategies, registered by name (credit_strategy_names()):
//   none     gamma = 1                                                  (plain GRPO)
//   random   1 + (amp-1) * [t in a uniformly random q fraction]         (baseline)
//   entropy  1 + (amp-1) * [t in TopQ(entropy)]                         (baseline)
//   local    1 + (amp-1) * [t in TopQ(Delta)]                           (4.1, local-chunk credit)
//   global   1 + (amp-1) * [t in TopQ(FAI)]                             (4.2, global-anchor credit)
//   coupled  4.3, coupled rhythm credit:
//            G = TopQ(FAI); D = { t in G : WAAD[t] <= tau_waad and max_{u in W(t)} Delta[u] >= tau_delta },
//            W(t) = the response tokens among [t-k, t-1] (clipped at the response start, so an anchor at
//            the first response token is never dominated); intro(t) = argmax_{u in W(t)} Delta[u];
//            gamma = 1 + (amp-1)[t in G\D] + (1-alpha)(amp-1)[t in D] + alpha(amp-1)[t in I(D)].
//
// Conventions (the paper is silent on these; they are illume's choices, each unit-tested):
//   * Selection is per response, over its response tokens (mask != 0). With n response tokens,
//     TopQ(x, q) selects count = max(1, ceil(q * n)) of them (ceil with a 1e-9 tolerance, so that
//     0.7 * 10 counts 7, not 8): q = 1 selects every token, and any q > 0 selects at least one token.
//     `select = "bottom"` takes the count lowest values instead (for `coupled`: G = BottomQ(FAI)).
//   * FAI-based selection (global, and coupled's G) ranks only the response tokens whose FAI horizon
//     T(s) is non-empty: positions j (0-based within the response) with j + fai_horizon_lo <= n - 1.
//     The last fai_horizon_lo tokens have no receivers, so their FAI is 0 by convention (metrics.h),
//     not a measurement; ranking them would put them in every BottomQ, and for n <= fai_horizon_lo
//     TopQ would pick the first tokens of an all-zero row. TopQ/BottomQ then select
//     selection_count(pool size, q) tokens of that pool; a response of n <= fai_horizon_lo tokens gets
//     no FAI bonus. The coupled thresholds (medians) still run over all response tokens.
//   * Ties are broken stably by position: among equal values the earlier token is selected first,
//     for top and bottom alike.
//   * random: each token gets a key from a counter-based hash of (seed, row index in the batch,
//     position); the count tokens with the highest keys are selected. So a row's selection depends
//     only on (seed, row, its length): deterministic, independent of batch width and device.
//     Vary the seed per training step.
//   * coupled: tau_waad / tau_delta default to the per-response lower median (torch.median's
//     convention: for n values, the ((n-1)/2)-th smallest) of WAAD / Delta over its response tokens.
//     intro(t) ties: the latest position (the one nearest the anchor), since anchors follow or
//     coincide with their preplan token (METHOD.md section 2). The three terms add where the sets
//     overlap (a dominated anchor that is also another anchor's intro gets (1-alpha)(amp-1) +
//     alpha(amp-1)). A token that is the intro of several dominated anchors gets alpha(amp-1) once,
//     reading [t in I(D)] as the indicator of a set; intro_bonus_per_anchor = true instead adds
//     alpha(amp-1) once per anchor (the "share of each anchor's bonus moves" reading).
//   * gamma is 1 on padding, float32, on the mask's device, computed under NoGradGuard from detached
//     inputs: no gradient ever flows through it.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace illume {

struct CreditOptions {
  std::string strategy = "none";   // none | random | entropy | local | global | coupled
  std::string select = "top";      // top | bottom
  double q = 0.4;                  // fraction selected, in (0, 1]
  double gamma_amp = 1.5;          // weight of a selected token
  int k = 3;                       // coupled: look-back window for the intro token, >= 1
  double alpha = 0.5;              // coupled: share of a dominated anchor's bonus moved to intro, [0, 1]
  std::optional<double> tau_waad;  // coupled: default per-response lower median of WAAD
  std::optional<double> tau_delta; // coupled: default per-response lower median of Delta
  bool intro_bonus_per_anchor = false;  // coupled: see the overlap convention above
  std::uint64_t seed = 0;          // random
  // global, coupled: the H_lo the FAI input was computed with (METHOD.md section 2). The last
  // fai_horizon_lo tokens of a response have no receivers (FAI := 0 by convention) and are left out
  // of FAI-based selection; see the pool convention above. 0: every token has a horizon.
  std::int64_t fai_horizon_lo = 10;
};

// Each [B, T] (float, any floating dtype), right-padded; response_mask [B, T] (bool or 0/1 numbers).
// Only the inputs the strategy reads (credit_strategy_needs) must be defined: entropy (entropy),
// delta (local), fai (global), waad + fai + delta (coupled); none and random need the mask only.
struct CreditInputs {
  at::Tensor waad, fai, delta, entropy, response_mask;
};

// The inputs a strategy reads besides the mask, declared in its row of the strategy table: the
// trainer computes only these (the attention statistics cost a pass over the chosen layers).
struct CreditNeeds {
  bool entropy = false;
  bool waad = false, fai = false, delta = false;
  constexpr bool attention() const { return waad || fai || delta; }
};

// The needs of a registered strategy; fails on an unknown name (listing the known ones).
CreditNeeds credit_strategy_needs(const std::string& strategy);

// gamma [B, T] float32: as above; 1 on padding and outside the selected sets.
at::Tensor compute_gamma(const CreditInputs& inputs, const CreditOptions& options);

// The tokens a strategy singles out, for display (the trainer's sample completions, samples.jsonl):
// anchor = the FAI-selected set G of global and coupled (TopQ(FAI), or BottomQ with select = bottom);
// preplan = coupled's intro tokens I(D), those a share of a dominated anchor's bonus moves to. Both
// [B, T] bool, false on padding and everywhere for the strategies that read no FAI (gamma alone shows
// their selection). Same inputs and checks as compute_gamma.
struct CreditRoles {
  at::Tensor anchor, preplan;
};
CreditRoles credit_roles(const CreditInputs& inputs, const CreditOptions& options);

// The registered strategy names, in registration order.
std::vector<std::string> credit_strategy_names();

// TopQ (or BottomQ when top = false) per row of values [B, T] over the tokens where valid [B, T]
// (bool) is true, with the count and tie rules above. Returns [B, T] bool. Exposed for tests and for
// analysis code that wants the same selection.
at::Tensor select_fraction(const at::Tensor& values, const at::Tensor& valid, double q, bool top);

// The number of tokens TopQ selects out of n: 0 for n = 0, else max(1, ceil(q * n - 1e-9)).
std::int64_t selection_count(std::int64_t n, double q);

}  // namespace illume

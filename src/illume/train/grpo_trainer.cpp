#include "illume/train/grpo_trainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "illume/dist/dist.h"
#include "illume/eval/evaluate.h"
#include "illume/eval/statistics.h"
#include "illume/infer/generate.h"
#include "illume/infer/vocabulary.h"
#include "illume/model/device.h"
#include "illume/rl/advantage.h"
#include "illume/rl/credit.h"
#include "illume/rl/policy_loss.h"
#include "illume/text/chat.h"
#include "illume/train/adamw.h"
#include "illume/train/attention_pass.h"
#include "illume/train/batch.h"
#include "illume/train/checkpoint.h"
#include "illume/train/run_folder.h"
#include "illume/train/run_log.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/interrupt.h"
#include "illume/util/progress.h"
#include "illume/util/random.h"

namespace illume::train {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The optimiser of a GRPO recipe: optim.lr, optim.betas, optim.adam_eps, optim.weight_decay.
AdamWOptions adamw_options(const TrainConfig& c) {
  return {c.optim.lr, c.optim.beta1, c.optim.beta2, c.optim.adam_eps, c.optim.weight_decay};
}

// Response-aligned [b, R] mask.
at::Tensor response_mask(const std::vector<std::int64_t>& lengths, std::int64_t R) {
  auto m = torch::zeros({static_cast<std::int64_t>(lengths.size()), R}, torch::kBool);
  for (std::size_t b = 0; b < lengths.size(); ++b) m[b].narrow(0, 0, lengths[b]).fill_(true);
  return m;
}

// Pads [b, r] to [b, R] with zeros (columns).
at::Tensor pad_columns(const at::Tensor& x, std::int64_t R) {
  if (x.size(1) == R) return x;
  return torch::constant_pad_nd(x, {0, R - x.size(1)}, 0);
}

double masked_mean(const at::Tensor& x, const at::Tensor& mask, double if_empty) {
  auto selected = x.masked_select(mask);
  return selected.numel() ? selected.to(torch::kDouble).mean().item<double>() : if_empty;
}

// The stages of a step (the header lists them), each returning one of these.

// 1. The step's prompts and G sampled responses to each.
struct Rollouts {
  std::vector<std::size_t> problem_indices;        // [P] into the training set
  std::vector<std::vector<std::int32_t>> prompts;  // [P] prompt ids
  std::vector<Completion> completions;             // [P * G]; prompt_index points into prompts
  double seconds = 0;
};

// 2. Rewards and group-normalised advantages of every response, and which ones are trained on.
struct Scores {
  at::Tensor rewards;                // [N] double
  at::Tensor advantages;             // [N] float
  at::Tensor informative;            // [N] bool: the response's group has reward variance
  std::vector<std::int64_t> kept;    // non-empty responses (and informative ones under dynamic sampling)
  double accuracy = 0, response_length_mean = 0, response_length_max = 0;
  double clipped_ratio = 0;          // share of responses cut at max_response_tokens without a stop token
  double seconds = 0;
};

// The kept responses as prompt + response rows: the unit of the old-policy pass and the updates.
struct TrainingBatch {
  std::vector<TokenSequence> rows;  // [B]
  at::Tensor advantages;            // [B] float: each row's sequence advantage
  at::Tensor response_mask;         // [B, R] bool; R = the longest response, at least 1
  // The sampler's log-prob and entropy of each response token (Completion::logprobs, ::entropies:
  // temperature 1, invalid ids masked), 0 past a row's length; undefined unless the old-policy pass
  // takes them (sampler_logprobs_suffice).
  at::Tensor sampler_logprobs, sampler_entropy;  // [B, R] float
  std::int64_t size() const { return static_cast<std::int64_t>(rows.size()); }
  std::int64_t width() const { return response_mask.size(1); }
};

// 3. The old policy's view of the batch, without gradient: the PPO ratio's denominator, token
// entropies, the reference model's log-probs (loss.kl_coef > 0) and the attention statistics the
// credit strategy reads (they ride on the same forward). When none of these needs a forward (see
// sampler_logprobs_suffice), the log-probs and entropies are the sampler's.
struct OldPolicyPass {
  at::Tensor logprobs, entropy;   // [B, R] float
  at::Tensor reference_logprobs;  // [B, R]; undefined without a reference model
  at::Tensor waad, fai, delta;    // [B, R]; undefined unless the strategy reads attention
  // Before the first optimiser step the policy is the old policy, so the first update micro-batch's
  // forward is run here, with gradients: its log-probs [b, r] (rows as micro_batch_layout's first
  // part) are the first update's, which then needs no forward of its own. Undefined when no forward
  // ran (sampler log-probs) or this rank has no rows in that micro-batch.
  at::Tensor first_update_logprobs;
  double seconds_logprobs = 0, seconds_attention = 0;
};

// 4. Credit: gamma and the token advantages A~ = gamma * A, both without gradient; for the sample
// completions (run.log_samples), the anchor and preplan tokens the strategy singled out.
struct Credit {
  at::Tensor gamma, token_advantages;  // [B, R] float
  at::Tensor anchor, preplan;          // [B, R] bool; undefined unless samples are logged
};

// 5. The PPO-clip updates: token-weighted means over the micro-batches.
struct Updates {
  double loss = 0, clip_low_fraction = 0, clip_high_fraction = 0, approx_kl_old = 0, kl_ref = 0, grad_norm_mean = 0;
  std::int64_t optimizer_steps = 0;
  double seconds = 0;
};

// All ranks' rows of x ([n] or [n, m]; n and m may differ per rank, shorter rows are zero-padded), in
// rank order, on the CPU, in x's dtype. Small tensors only (metrics): one padded sum over the ranks.
at::Tensor gather_rows(const at::Tensor& x) {
  const auto world = dist::world_size(), rank = dist::rank();
  const auto local = (x.dim() == 1 ? x.unsqueeze(1) : x).cpu().to(torch::kDouble);
  std::vector<double> shapes(static_cast<std::size_t>(2 * world), 0.0);
  shapes[static_cast<std::size_t>(2 * rank)] = static_cast<double>(local.size(0));
  shapes[static_cast<std::size_t>(2 * rank + 1)] = static_cast<double>(local.size(1));
  dist::all_reduce_sum(shapes);
  std::int64_t rows = 0, columns = 0;
  for (int r = 0; r < world; ++r) {
    rows = std::max(rows, static_cast<std::int64_t>(shapes[static_cast<std::size_t>(2 * r)]));
    columns = std::max(columns, static_cast<std::int64_t>(shapes[static_cast<std::size_t>(2 * r + 1)]));
  }
  std::vector<at::Tensor> buffer{torch::zeros({world, rows, columns}, torch::kDouble)};
  buffer[0][rank].narrow(0, 0, local.size(0)).narrow(1, 0, local.size(1)).copy_(local);
  dist::all_reduce_sum(buffer);
  std::vector<at::Tensor> parts;
  for (int r = 0; r < world; ++r)
    parts.push_back(buffer[0][r].narrow(0, 0, static_cast<std::int64_t>(shapes[static_cast<std::size_t>(2 * r)])));
  auto all = torch::cat(parts).to(x.scalar_type());
  return x.dim() == 1 ? all.squeeze(1) : all;
}

// The stages' results over every rank, as step_metrics reads them (data-parallel steps): the same
// metrics one process with the whole batch would log. Each rank scores the same number of responses,
// so their means average; the per-token ones are recomputed from the gathered rows.
struct AllRanks {
  Scores scores;
  TrainingBatch batch;  // response_mask, and rows only counted
  OldPolicyPass old;    // entropy
  Credit credit;        // gamma
};

AllRanks gather_for_metrics(const Scores& scores, const TrainingBatch& batch, const OldPolicyPass& old,
                            const Credit& credit) {
  AllRanks all;
  all.scores = scores;
  all.scores.rewards = gather_rows(scores.rewards);
  all.scores.informative = gather_rows(scores.informative);
  std::vector<double> means{scores.accuracy, scores.response_length_mean, scores.clipped_ratio};
  dist::all_reduce_sum(means);
  all.scores.accuracy = means[0] / dist::world_size();
  all.scores.response_length_mean = means[1] / dist::world_size();
  all.scores.clipped_ratio = means[2] / dist::world_size();
  std::vector<double> longest{scores.response_length_max};
  dist::all_reduce_max(longest);
  all.scores.response_length_max = longest[0];
  all.batch.response_mask = gather_rows(batch.response_mask);
  all.batch.rows.resize(static_cast<std::size_t>(all.batch.response_mask.size(0)));
  all.old.entropy = gather_rows(old.entropy);
  all.old.seconds_logprobs = old.seconds_logprobs;
  all.old.seconds_attention = old.seconds_attention;
  all.credit.gamma = gather_rows(credit.gamma);
  return all;
}

}  // namespace

ResponseLogprobs response_logprobs(const Model& model, const at::Tensor& ids, const at::Tensor& mask,
                                   const std::vector<std::int64_t>& prompt_lengths,
                                   const std::vector<std::int64_t>& response_lengths, double temperature,
                                   bool want_entropy, AttentionObserver* observer, const at::Tensor& invalid_ids) {
  const auto B = ids.size(0), T = ids.size(1);
  std::int64_t R = 1;
  for (auto r : response_lengths) R = std::max(R, r);
  // Logits at position p predict token p+1: response token t of row b sits at prompt_length + t and is
  // predicted from position prompt_length + t - 1.
  auto index = torch::zeros({B, R}, torch::kLong);
  auto ia = index.accessor<std::int64_t, 2>();
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 0; t < R; ++t) ia[b][t] = std::min(prompt_lengths[b] - 1 + t, T - 2);
  index = index.to(ids.device());
  auto hidden = model.forward_hidden(ids, mask, observer);                                       // [B, T, D]
  const auto D = hidden.size(2);
  auto h = hidden.gather(1, index.unsqueeze(-1).expand({B, R, D}));                     // [B, R, D]
  auto logits = mask_invalid_ids(model.logits(h), invalid_ids);                        // [B, R, V] f32
  if (temperature != 1.0) logits = logits / temperature;
  auto logsm = torch::log_softmax(logits, -1);
  auto targets = ids.gather(1, index + 1);                                              // [B, R]
  ResponseLogprobs out;
  out.logprobs = logsm.gather(-1, targets.unsqueeze(-1)).squeeze(-1);
  if (want_entropy) {
    torch::NoGradGuard no_grad;
    auto l = logsm.detach();
    out.entropy = -(l.exp() * l).sum(-1);
  }
  return out;
}

struct GrpoTrainer::Impl {
  TrainConfig config;
  CreditNeeds credit_needs;
  Model policy;
  std::optional<Model> reference;
  Tokenizer tokenizer;
  fs::path tokenizer_dir;
  std::vector<data::Problem> problems;
  RewardFn reward;
  data::Task task;
  std::vector<std::vector<std::int32_t>> prompt_ids;  // per problem, tokenised lazily
  SamplingOptions sampling_defaults;  // the tokenizer's valid ids and stop tokens, built once; rollouts set the rest
  at::Tensor invalid_ids;  // [V] bool: ids the tokenizer cannot decode (masked like the sampler does)
  std::int32_t pad_id = 0;
  std::unique_ptr<AdamW> optimizer;
  LrSchedule lr_schedule;
  EpochOrder data_order;
  std::int64_t step = 0;
  std::int64_t data_position = 0;
  // Data parallelism (dist/dist.h): this rank takes prompts [first_prompt, first_prompt + local_prompts)
  // of each step's prompts (whole groups, so group normalisation stays exact); with one process, all.
  std::int64_t local_prompts = 0, first_prompt = 0;
  // In-training evaluation (config.eval): the held-out problems, and accuracy per evaluated step as
  // metrics.jsonl holds it (reloaded from the trimmed log on resume, so it is the log's history).
  std::vector<data::Problem> eval_problems;
  std::vector<eval::CurvePoint> eval_history;
  bool best_is_log_peak = false;  // OUT/checkpoints/best holds the model of the history's peak
  std::vector<Json> step_samples;  // the last step's sample completions (run.log_samples), for samples.jsonl

  Impl(TrainConfig c, Model m, Tokenizer t, fs::path tdir, std::vector<data::Problem> p, RewardFn r)
      : config(std::move(c)), credit_needs(credit_strategy_needs(config.credit.strategy)), policy(std::move(m)),
        tokenizer(std::move(t)), tokenizer_dir(std::move(tdir)), problems(std::move(p)), reward(std::move(r)),
        task(config.data.task), lr_schedule(LrSchedule::constant(config.optim.lr)),
        data_order(std::max<std::size_t>(problems.size(), 1), config.run.seed, config.data.shuffle) {
    if (problems.empty()) fail("{}: no training problems", config.data.path.string());
    if (credit_needs.attention()) attention_stats_config(policy.config(), attention_pass_options(config));  // fail now
    prompt_ids.resize(problems.size());
    sampling_defaults = sampling_options(policy.config(), tokenizer);
    invalid_ids = invalid_id_mask(sampling_defaults.valid_ids, policy.config().vocab_size, policy.device());
    if (auto pad = tokenizer.pad_token_id()) pad_id = *pad;
    else if (!sampling_defaults.stop_token_ids.empty()) pad_id = sampling_defaults.stop_token_ids.front();
    if (config.loss.kl_coef > 0) {
      LoadOptions o;
      o.device = policy.device();
      o.dtype = policy.dtype();
      reference = Model::load(config.model.dir, o);
      reference->set_requires_grad(false);
    }
    make_optimizer();
    local_prompts = config.prompts_per_step();
    if (dist::active()) {
      const auto world = dist::world_size();
      if (config.prompts_per_step() % world != 0)
        fail("train: optim.batch_size {} is {} prompts of rollout.group_size {} per step; {} ranks need a multiple "
             "of {} prompts (whole groups per rank)", config.optim.batch_size, config.prompts_per_step(),
             config.group_size, world, world);
      local_prompts = config.prompts_per_step() / world;
      first_prompt = local_prompts * dist::rank();
      broadcast_weights();
    }
    if (config.eval.enabled()) {
      eval_problems = data::load_problems(config.eval.task, config.eval.data);
      if (eval_problems.empty()) fail("{}: no evaluation problems (eval.data)", config.eval.data.string());
    }
  }

  // Every rank starts from rank 0's weights (they load the same files; this makes sure).
  void broadcast_weights() {
    auto parameters = optimizer->parameters();
    dist::broadcast(parameters);
  }

  void make_optimizer() {
    policy.set_requires_grad(true);
    optimizer = std::make_unique<AdamW>(policy.weights().named_tensors(policy.config()), adamw_options(config));
  }

  const std::vector<std::int32_t>& prompt_of(std::size_t index) {
    auto& ids = prompt_ids[index];
    if (ids.empty()) {
      ids = tokenizer.encode(data::prompt_text(task, problems[index], config.data.prompt_style), true);
      if (ids.empty()) fail("{}: problem '{}' has an empty prompt", config.data.path.string(), problems[index].id);
    }
    return ids;
  }

  reward::RewardResult score(const data::Problem& problem, const std::string& text) const {
    if (reward) return reward(problem, text);
    data::ScoreOptions o;
    o.countdown = config.countdown;
    return data::score_response(task, problem, text, o);
  }

  // The given rows of the batch, packed on the policy's device.
  PackedBatch micro_batch(const TrainingBatch& batch, const std::vector<std::int64_t>& rows) const {
    std::vector<const TokenSequence*> sequences;
    for (auto r : rows) sequences.push_back(&batch.rows[r]);
    auto packed = pack_batch(sequences, pad_id);
    packed.ids = packed.ids.to(policy.device());
    packed.mask = packed.mask.to(policy.device());
    return packed;
  }

  Rollouts generate_rollouts();
  Scores score_rollouts(const Rollouts& rollouts) const;
  TrainingBatch training_batch(const Rollouts& rollouts, const Scores& scores) const;
  Credit assign_credit(const TrainingBatch& batch, const OldPolicyPass& old) const;
  struct MicroBatchPart {
    std::vector<std::int64_t> rows;   // this rank's rows of the micro-batch
    double tokens = 0, denominator = 0;                // this rank's response tokens, loss denominator
    double global_tokens = 0, global_denominator = 0;  // the same over every rank
  };
  std::vector<MicroBatchPart> micro_batch_layout(const TrainingBatch& batch) const;
  std::vector<std::size_t> length_grouped_order(const TrainingBatch& batch, const std::vector<std::size_t>& order,
                                                std::uint64_t seed) const;
  // Whether the old log-probs and entropies can be the sampler's (rollout.logprobs_from_sampler): the
  // same distribution (temperature 1: the sampler records the unscaled one; float32, where the
  // KV-cache forward and the full forward agree up to rounding, mean 1e-6; in bfloat16 the two
  // paths' roundings are far coarser), and no forward is needed for anything
  // else (no reference model, no attention statistics).
  bool sampler_logprobs_suffice() const {
    return config.logprobs_from_sampler && config.temperature == 1.0 && !reference && !credit_needs.attention() &&
           policy.dtype() == torch::kFloat;
  }
  OldPolicyPass old_policy_pass(const TrainingBatch& batch, const std::vector<MicroBatchPart>& layout);
  Updates ppo_updates(const TrainingBatch& batch, const std::vector<MicroBatchPart>& layout, OldPolicyPass& old,
                      const Credit& credit);
  Json step_metrics(const Rollouts& rollouts, const Scores& scores, const TrainingBatch& batch, const OldPolicyPass& old,
                    const Credit& credit, const Updates& updates, double step_seconds) const;
  std::vector<Json> sample_completions(const Rollouts& rollouts, const Scores& scores, const TrainingBatch& batch,
                                       const Credit& credit) const;
  Json do_step();
  TrainerState state() const;
  void save();
  bool evaluation_due() const;
  Json evaluate_policy() const;
  void load_eval_history();
  void record_evaluation(const Json& row);
  void write_eval_summary() const;
  void load(const fs::path& checkpoint);
};

Json GrpoTrainer::Impl::do_step() {
  const auto start = Clock::now();
  const double communication_before = dist::communication_seconds();
  const auto rollouts = generate_rollouts();
  const auto scores = score_rollouts(rollouts);
  const auto batch = training_batch(rollouts, scores);
  const auto layout = micro_batch_layout(batch);
  auto old = old_policy_pass(batch, layout);
  const auto credit = assign_credit(batch, old);
  const auto updates = ppo_updates(batch, layout, old, credit);
  Json metrics;
  if (dist::active()) {
    const auto all = gather_for_metrics(scores, batch, old, credit);
    metrics = step_metrics(rollouts, all.scores, all.batch, all.old, all.credit, updates, seconds_since(start));
    // Time inside collectives (sending, and waiting for the slowest rank).
    metrics["timing/communication"] = dist::communication_seconds() - communication_before;
  } else {
    metrics = step_metrics(rollouts, scores, batch, old, credit, updates, seconds_since(start));
  }
  // This rank's sample completions (rank 0 writes them).
  step_samples = sample_completions(rollouts, scores, batch, credit);
  ++step;
  data_position += config.prompts_per_step();
  return metrics;
}

Rollouts GrpoTrainer::Impl::generate_rollouts() {
  const auto t0 = Clock::now();
  Rollouts r;
  for (std::int64_t i = first_prompt; i < first_prompt + local_prompts; ++i) {
    r.problem_indices.push_back(data_order.at(static_cast<std::uint64_t>(data_position + i)));
    r.prompts.push_back(prompt_of(r.problem_indices.back()));
  }
  auto sampling = sampling_defaults;
  sampling.temperature = config.temperature;
  sampling.top_p = config.top_p;
  sampling.seed = mix_seed(config.run.seed, static_cast<std::uint64_t>(step), RandomStream::Rollouts);
  sampling.first_prompt_index = static_cast<std::size_t>(first_prompt);  // a rank draws what one process would
  sampling.max_new_tokens = config.max_response_tokens;
  sampling.num_samples = config.group_size;
  sampling.max_batch_rows = config.max_batch_rows;
  torch::NoGradGuard no_grad;
  r.completions = generate(policy, r.prompts, sampling,
                           [this](const std::vector<std::int32_t>& ids) { return tokenizer.decode(ids, true); });
  r.seconds = seconds_since(t0);
  return r;
}

Scores GrpoTrainer::Impl::score_rollouts(const Rollouts& rollouts) const {
  const auto t0 = Clock::now();
  const auto& completions = rollouts.completions;
  const auto N = static_cast<std::int64_t>(completions.size());
  Scores s;
  s.rewards = torch::zeros({N}, torch::kDouble);
  double correct = 0, length_sum = 0, clipped = 0;
  for (std::int64_t i = 0; i < N; ++i) {
    const auto& c = completions[i];
    auto r = score(problems[rollouts.problem_indices[c.prompt_index]], c.text);
    s.rewards[i] = r.reward;
    correct += r.correct ? 1 : 0;
    length_sum += static_cast<double>(c.ids.size());
    s.response_length_max = std::max<double>(s.response_length_max, static_cast<double>(c.ids.size()));
    clipped += c.finish_reason == "length" ? 1 : 0;  // max_response_tokens reached, no stop token
  }
  s.accuracy = correct / N;
  s.response_length_mean = length_sum / N;
  s.clipped_ratio = clipped / N;
  s.advantages = grpo_advantages(s.rewards, config.group_size, config.adv_eps, config.scale_by_std).to(torch::kFloat);
  s.informative = informative_groups(s.rewards, config.group_size);
  auto informative = s.informative.accessor<bool, 1>();
  for (std::int64_t i = 0; i < N; ++i)
    if (!completions[i].ids.empty() && (!config.dynamic_sampling || informative[i])) s.kept.push_back(i);
  s.seconds = seconds_since(t0);
  return s;
}

TrainingBatch GrpoTrainer::Impl::training_batch(const Rollouts& rollouts, const Scores& scores) const {
  TrainingBatch batch;
  std::vector<std::int64_t> lengths;
  std::int64_t width = 1;
  for (auto i : scores.kept) {
    const auto& completion = rollouts.completions[i];
    TokenSequence row;
    row.ids = rollouts.prompts[completion.prompt_index];
    row.prompt_length = static_cast<std::int64_t>(row.ids.size());
    row.ids.insert(row.ids.end(), completion.ids.begin(), completion.ids.end());
    lengths.push_back(row.response_length());
    width = std::max(width, lengths.back());
    batch.rows.push_back(std::move(row));
  }
  batch.advantages = scores.kept.empty() ? torch::zeros({0})
                                         : scores.advantages.index_select(0, torch::tensor(scores.kept, torch::kLong));
  batch.response_mask = response_mask(lengths, width);
  if (!sampler_logprobs_suffice()) return batch;  // the old-policy pass runs its forward instead
  const auto B = batch.size();
  batch.sampler_logprobs = torch::zeros({B, width});
  batch.sampler_entropy = torch::zeros({B, width});
  auto logprobs = batch.sampler_logprobs.accessor<float, 2>();
  auto entropy = batch.sampler_entropy.accessor<float, 2>();
  for (std::int64_t b = 0; b < B; ++b) {
    const auto& completion = rollouts.completions[scores.kept[static_cast<std::size_t>(b)]];
    check(completion.logprobs.size() == completion.ids.size() && completion.entropies.size() == completion.ids.size(),
          "train: the sampler returned {} log-probs and {} entropies for {} tokens", completion.logprobs.size(),
          completion.entropies.size(), completion.ids.size());
    for (std::size_t t = 0; t < completion.ids.size(); ++t) {
      logprobs[b][static_cast<std::int64_t>(t)] = completion.logprobs[t];
      entropy[b][static_cast<std::int64_t>(t)] = completion.entropies[t];
    }
  }
  return batch;
}

OldPolicyPass GrpoTrainer::Impl::old_policy_pass(const TrainingBatch& batch, const std::vector<MicroBatchPart>& layout) {
  const auto t0 = Clock::now();
  const auto B = batch.size(), R = batch.width();
  OldPolicyPass old;
  if (sampler_logprobs_suffice()) {
    old.logprobs = batch.sampler_logprobs;
    old.entropy = batch.sampler_entropy;
    old.seconds_logprobs = seconds_since(t0);
    return old;
  }
  old.logprobs = torch::zeros({B, R});
  old.entropy = torch::zeros({B, R});
  if (reference) old.reference_logprobs = torch::zeros({B, R});
  const bool with_attention = credit_needs.attention() && B > 0;
  if (with_attention) {
    old.waad = torch::zeros({B, R});
    old.fai = torch::zeros({B, R});
    old.delta = torch::zeros({B, R});
  }
  torch::NoGradGuard no_grad;
  // The forwards are the update micro-batches (micro_batch_layout), in their order: the first one's
  // graph is the first update's. `order`: the batch rows in the order the forwards take them.
  std::vector<std::int64_t> order;
  for (const auto& part : layout) order.insert(order.end(), part.rows.begin(), part.rows.end());
  check(static_cast<std::int64_t>(order.size()) == B, "train: the micro-batches hold {} of {} rows", order.size(), B);
  // One pass over the whole batch: with attention.grouping batch it ranks heads over every micro-batch.
  // It numbers the rows in `order`.
  std::optional<BatchAttentionPass> attention;
  if (with_attention) {
    std::vector<std::int64_t> prompt_lengths, response_lengths;
    for (auto b : order) {
      prompt_lengths.push_back(batch.rows[b].prompt_length);
      response_lengths.push_back(batch.rows[b].response_length());
    }
    attention.emplace(policy, prompt_lengths, response_lengths, attention_pass_options(config));
  }
  std::int64_t done = 0;  // rows run so far (their place in `order`)
  for (std::size_t k = 0; k < layout.size(); ++k) {
    const auto& rows = layout[k].rows;
    if (rows.empty()) continue;  // another rank's rows only
    const auto count = static_cast<std::int64_t>(rows.size());
    const bool first_update = k == 0;
    const auto mb = micro_batch(batch, rows);
    ResponseLogprobs lp;
    auto forward = [&](AttentionObserver* observer) {
      torch::AutoGradMode gradients(first_update);
      lp = response_logprobs(policy, mb.ids, mb.mask, mb.prompt_lengths, mb.response_lengths, config.temperature, true,
                             observer, invalid_ids);
    };
    if (with_attention) attention->run(done, count, forward);
    else forward(nullptr);
    const auto index = torch::tensor(rows, torch::kLong);
    old.logprobs.index_copy_(0, index, pad_columns(lp.logprobs.detach().cpu(), R));
    old.entropy.index_copy_(0, index, pad_columns(lp.entropy.cpu(), R));
    if (first_update) old.first_update_logprobs = lp.logprobs;
    if (reference) {
      auto ref = response_logprobs(*reference, mb.ids, mb.mask, mb.prompt_lengths, mb.response_lengths,
                                   config.temperature, false, nullptr, invalid_ids);
      old.reference_logprobs.index_copy_(0, index, pad_columns(ref.logprobs.cpu(), R));
    }
    done += count;
  }
  if (with_attention) {
    auto stats = attention->finish();
    const auto index = torch::tensor(order, torch::kLong);
    old.waad.index_copy_(0, index, pad_columns(stats.waad, R));
    old.fai.index_copy_(0, index, pad_columns(stats.fai, R));
    old.delta.index_copy_(0, index, pad_columns(stats.delta, R));
    old.seconds_attention = stats.statistics_seconds;
  }
  old.seconds_logprobs = seconds_since(t0) - old.seconds_attention;
  return old;
}

Credit GrpoTrainer::Impl::assign_credit(const TrainingBatch& batch, const OldPolicyPass& old) const {
  torch::NoGradGuard no_grad;
  if (batch.size() == 0) return {torch::ones({0, batch.width()}), torch::zeros({0, batch.width()}), {}, {}};
  CreditInputs inputs;
  inputs.response_mask = batch.response_mask;
  inputs.entropy = old.entropy;
  inputs.waad = old.waad;
  inputs.fai = old.fai;
  inputs.delta = old.delta;
  CreditOptions options = config.credit;
  options.seed = mix_seed(config.run.seed, static_cast<std::uint64_t>(step), RandomStream::Credit);
  options.fai_horizon_lo = config.fai_horizon_lo;  // FAI-based selection skips tokens without a horizon
  Credit credit;
  credit.gamma = compute_gamma(inputs, options);
  credit.token_advantages = token_advantages(batch.advantages, credit.gamma, batch.response_mask, config.sign);
  if (config.run.log_samples > 0) {
    auto roles = credit_roles(inputs, options);
    credit.anchor = roles.anchor.cpu();
    credit.preplan = roles.preplan.cpu();
  }
  return credit;
}

// The micro-batches of the step's PPO updates, as one process holding the whole batch would form them:
// the global batch is the ranks' rows in rank order (rank r's groups follow rank r - 1's), cut into
// micro-batches in a seeded row order; each rank takes its own rows of each micro-batch (possibly
// none). The loss aggregation divides by the micro-batch's response tokens (token-mean) or rows (the
// seq-mean modes), which span the ranks: both counts are summed over the ranks once, here.
// optim.group_by_length: `order` (a seeded permutation of every rank's rows) sorted by row length
// (prompt + response; ties keep the seeded order), cut into micro-batches, and those taken in a
// seeded order, so that the step's first and last updates are not always the shortest and longest.
std::vector<std::size_t> GrpoTrainer::Impl::length_grouped_order(const TrainingBatch& batch,
                                                                 const std::vector<std::size_t>& order,
                                                                 std::uint64_t seed) const {
  std::vector<std::int64_t> local;
  for (const auto& row : batch.rows) local.push_back(static_cast<std::int64_t>(row.ids.size()));
  auto lengths_tensor = torch::tensor(local, torch::kLong);
  if (dist::active()) lengths_tensor = gather_rows(lengths_tensor);  // in rank order, as the global rows
  const auto lengths = lengths_tensor.accessor<std::int64_t, 1>();
  auto sorted = order;
  std::stable_sort(sorted.begin(), sorted.end(), [&](std::size_t a, std::size_t b) {
    return lengths[static_cast<std::int64_t>(a)] < lengths[static_cast<std::int64_t>(b)];
  });
  const auto size = static_cast<std::size_t>(config.optim.micro_batch_size);
  const auto parts = (sorted.size() + size - 1) / size;
  std::vector<std::size_t> grouped;
  for (auto part : seeded_permutation(parts, SplitMix64(seed).next()))  // a seed of its own
    for (auto j = part * size; j < std::min(sorted.size(), (part + 1) * size); ++j) grouped.push_back(sorted[j]);
  return grouped;
}

std::vector<GrpoTrainer::Impl::MicroBatchPart> GrpoTrainer::Impl::micro_batch_layout(const TrainingBatch& batch) const {
  const auto B = batch.size();
  std::vector<double> counts(static_cast<std::size_t>(dist::world_size()), 0.0);
  counts[static_cast<std::size_t>(dist::rank())] = static_cast<double>(B);
  dist::all_reduce_sum(counts);
  std::int64_t offset = 0, total = 0;
  for (int r = 0; r < dist::world_size(); ++r) {
    if (r < dist::rank()) offset += static_cast<std::int64_t>(counts[static_cast<std::size_t>(r)]);
    total += static_cast<std::int64_t>(counts[static_cast<std::size_t>(r)]);
  }
  // Micro-batches mix prompts: the rows in a seeded order.
  const auto seed = mix_seed(config.run.seed, static_cast<std::uint64_t>(step), RandomStream::MicroBatchOrder);
  auto order = seeded_permutation(static_cast<std::size_t>(total), seed);
  if (config.optim.group_by_length) order = length_grouped_order(batch, order, seed);
  const auto row_tokens = batch.response_mask.sum(1).to(torch::kLong);
  const auto tokens_of = row_tokens.accessor<std::int64_t, 1>();
  const bool token_mean = config.loss.aggregation == "token-mean";
  std::vector<MicroBatchPart> parts;
  std::vector<double> sums;  // per part: response tokens, loss denominator
  for (std::int64_t begin = 0; begin < total; begin += config.optim.micro_batch_size) {
    MicroBatchPart part;
    for (auto j = begin; j < std::min(total, begin + config.optim.micro_batch_size); ++j) {
      const auto row = static_cast<std::int64_t>(order[static_cast<std::size_t>(j)]) - offset;
      if (row < 0 || row >= B) continue;
      part.rows.push_back(row);
      part.tokens += static_cast<double>(tokens_of[row]);
    }
    part.denominator = token_mean ? part.tokens : static_cast<double>(part.rows.size());
    sums.push_back(part.tokens);
    sums.push_back(part.denominator);
    parts.push_back(std::move(part));
  }
  dist::all_reduce_sum(sums);
  for (std::size_t k = 0; k < parts.size(); ++k) {
    parts[k].global_tokens = sums[2 * k];
    parts[k].global_denominator = sums[2 * k + 1];
  }
  return parts;
}

Updates GrpoTrainer::Impl::ppo_updates(const TrainingBatch& batch, const std::vector<MicroBatchPart>& layout,
                                       OldPolicyPass& old, const Credit& credit) {
  const auto t0 = Clock::now();
  const auto device = policy.device();
  Updates u;
  double tokens_sum = 0, grad_norm_sum = 0;
  for (const auto& part : layout) {
    optimizer->zero_grad();
    // This rank's sums over the micro-batch: loss (its share), and the low and high clip fractions,
    // approx KL and reference KL times its tokens.
    std::vector<double> sums(5, 0.0);
    if (!part.rows.empty()) {
      ResponseLogprobs lp;
      if (&part == &layout.front() && old.first_update_logprobs.defined()) {
        lp.logprobs = std::move(old.first_update_logprobs);  // the old pass's forward of these rows
        old.first_update_logprobs = at::Tensor();
      } else {
        const auto mb = micro_batch(batch, part.rows);
        lp = response_logprobs(policy, mb.ids, mb.mask, mb.prompt_lengths, mb.response_lengths, config.temperature,
                               false, nullptr, invalid_ids);
      }
      const auto index = torch::tensor(part.rows, torch::kLong);
      auto take = [&](const at::Tensor& x) { return x.index_select(0, index).narrow(1, 0, lp.logprobs.size(1)).to(device); };
      const auto mask = take(batch.response_mask);
      auto result = ppo_clip_loss(lp.logprobs, take(old.logprobs), take(credit.token_advantages), mask, config.loss,
                                  reference ? take(old.reference_logprobs) : at::Tensor());
      // The aggregation divided by this rank's tokens (or rows); rescaled to the micro-batch's, the
      // ranks' losses (and gradients) sum to those of the whole micro-batch.
      auto loss = dist::active() ? result.loss * (part.denominator / part.global_denominator) : result.loss;
      loss.backward();
      sums = {loss.item<double>(), result.clip_low_fraction * part.tokens, result.clip_high_fraction * part.tokens,
              result.approx_kl_old * part.tokens, result.kl_ref * part.tokens};
    }
    dist::all_reduce_gradients(optimizer->parameters());
    dist::all_reduce_sum(sums);
    const double grad_norm = clip_grad_norm(optimizer->parameters(), config.optim.grad_clip);
    const double loss_value = sums[0];
    // Checked before the update: one non-finite step turns every weight into NaN (and used to train on
    // and exit 0). The checkpoints on disk are from earlier steps and stay as they are.
    if (!std::isfinite(loss_value) || !std::isfinite(grad_norm))
      fail("train: the {} is not finite at step {} ({}); stopped before updating; {}; try a lower optim.lr",
           std::isfinite(loss_value) ? "gradient norm" : "loss", step + 1,
           std::isfinite(loss_value) ? grad_norm : loss_value, last_checkpoint_note(config.run.out));
    grad_norm_sum += grad_norm;
    optimizer->step(lr_schedule.at(step));
    ++u.optimizer_steps;
    const double tokens = part.global_tokens;
    u.loss += loss_value * tokens;
    u.clip_low_fraction += sums[1];
    u.clip_high_fraction += sums[2];
    u.approx_kl_old += sums[3];
    u.kl_ref += sums[4];
    tokens_sum += tokens;
  }
  optimizer->zero_grad();
  const double per_token = 1.0 / std::max(tokens_sum, 1.0);
  u.loss *= per_token;
  u.clip_low_fraction *= per_token;
  u.clip_high_fraction *= per_token;
  u.approx_kl_old *= per_token;
  u.kl_ref *= per_token;
  u.grad_norm_mean = u.optimizer_steps ? grad_norm_sum / static_cast<double>(u.optimizer_steps) : 0.0;
  u.seconds = seconds_since(t0);
  return u;
}

Json GrpoTrainer::Impl::step_metrics(const Rollouts& rollouts, const Scores& scores, const TrainingBatch& batch,
                                     const OldPolicyPass& old, const Credit& credit, const Updates& updates,
                                     double step_seconds) const {
  const auto N = scores.rewards.numel();
  // Names: TRL's GRPOTrainer where it has one, verl's timing_s/ as timing/ (train/metric_names.h,
  // docs/metrics.md); illume's own statistics keep theirs.
  Json m;
  m["step"] = step + 1;
  m["data_position"] = data_position + config.prompts_per_step();
  // Rewards and completions.
  m["reward/mean"] = scores.rewards.mean().item<double>();
  m["reward/std"] = N > 1 ? scores.rewards.std().item<double>() : 0.0;
  m["frac_reward_zero_std"] = 1.0 - scores.informative.to(torch::kDouble).mean().item<double>();  // groups alike
  m["accuracy"] = scores.accuracy;
  m["completions/mean_length"] = scores.response_length_mean;
  m["completions/max_length"] = scores.response_length_max;
  m["completions/clipped_ratio"] = scores.clipped_ratio;
  m["responses_trained"] = batch.size();
  // Credit.
  m["gamma_mean"] = masked_mean(credit.gamma, batch.response_mask, 1.0);
  m["gamma_amplified_fraction"] = masked_mean((credit.gamma > 1.0 + 1e-6), batch.response_mask, 0.0);
  // Policy and updates: token means over the trained responses.
  m["entropy"] = masked_mean(old.entropy, batch.response_mask, 0.0);
  m["loss"] = updates.loss;
  m["clip_ratio/low_mean"] = updates.clip_low_fraction;
  m["clip_ratio/high_mean"] = updates.clip_high_fraction;
  m["clip_ratio/region_mean"] = updates.clip_low_fraction + updates.clip_high_fraction;
  m["approx_kl_old"] = updates.approx_kl_old;
  if (reference) m["kl"] = updates.kl_ref;  // as TRL: only when there is a reference model (loss.kl_coef > 0)
  m["grad_norm"] = updates.grad_norm_mean;  // mean over the step's optimizer steps, before clipping
  m["optimizer_steps"] = updates.optimizer_steps;
  m["learning_rate"] = lr_schedule.at(step);
  // Seconds per stage, and shares of the step.
  m["timing/generate"] = rollouts.seconds;
  m["timing/score"] = scores.seconds;
  m["timing/old_logprobs"] = old.seconds_logprobs;
  m["timing/attention"] = old.seconds_attention;
  m["timing/update"] = updates.seconds;
  m["timing/step"] = step_seconds;
  m["share_generate"] = rollouts.seconds / step_seconds;
  m["share_attention"] = old.seconds_attention / step_seconds;
  m["share_train"] = (updates.seconds + old.seconds_logprobs) / step_seconds;
  return m;
}

// Evenly spaced rows of the training batch (so, for log_samples <= the number of prompts, different
// prompts), each with its text and its credit token by token. Token texts are the decoded bytes of
// each id (a piece may end inside a UTF-8 character; the line's writer replaces invalid bytes).
std::vector<Json> GrpoTrainer::Impl::sample_completions(const Rollouts& rollouts, const Scores& scores,
                                                        const TrainingBatch& batch, const Credit& credit) const {
  std::vector<Json> samples;
  const auto B = batch.size();
  const auto n = std::min<std::int64_t>(config.run.log_samples, B);
  if (n <= 0) return samples;
  const auto gamma_tensor = credit.gamma.to(torch::kCPU, torch::kDouble).contiguous();
  const auto advantage_tensor = batch.advantages.to(torch::kCPU, torch::kDouble).contiguous();
  const auto reward_tensor = scores.rewards.to(torch::kDouble).contiguous();
  const auto gamma = gamma_tensor.accessor<double, 2>();
  const auto advantages = advantage_tensor.accessor<double, 1>();
  const auto rewards = reward_tensor.accessor<double, 1>();
  // Roles as 0/1 bytes (an empty [B, R] when the strategy marks none).
  const auto anchor_tensor = credit.anchor.defined() ? credit.anchor.to(torch::kUInt8).contiguous() : torch::zeros_like(gamma_tensor, torch::kUInt8);
  const auto preplan_tensor = credit.preplan.defined() ? credit.preplan.to(torch::kUInt8).contiguous() : torch::zeros_like(gamma_tensor, torch::kUInt8);
  const auto anchor = anchor_tensor.accessor<std::uint8_t, 2>();
  const auto preplan = preplan_tensor.accessor<std::uint8_t, 2>();
  for (std::int64_t k = 0; k < n; ++k) {
    const auto b = k * B / n;
    const auto index = scores.kept[static_cast<std::size_t>(b)];
    const auto& completion = rollouts.completions[static_cast<std::size_t>(index)];
    const auto& problem = problems[rollouts.problem_indices[completion.prompt_index]];
    Json tokens = Json::array(), weights = Json::array(), anchors = Json::array(), preplans = Json::array();
    for (std::size_t i = 0; i < completion.ids.size(); ++i) {
      const auto t = static_cast<std::int64_t>(i);
      tokens.push_back(tokenizer.decode({completion.ids[i]}));
      weights.push_back(gamma[b][t]);
      if (anchor[b][t]) anchors.push_back(t);
      if (preplan[b][t]) preplans.push_back(t);
    }
    samples.push_back({{"step", step + 1},
                       {"problem", problem.id},
                       {"prompt", data::prompt_text(task, problem, config.data.prompt_style)},
                       {"response", completion.text},
                       {"finish_reason", completion.finish_reason},
                       {"reward", rewards[index]},
                       {"advantage", advantages[b]},
                       {"strategy", config.credit.strategy},
                       {"tokens", std::move(tokens)},
                       {"gamma", std::move(weights)},
                       {"anchors", std::move(anchors)},
                       {"preplans", std::move(preplans)}});
  }
  return samples;
}

TrainerState GrpoTrainer::Impl::state() const {
  TrainerState s;
  s.trainer = TrainerKind::Grpo;
  s.step = step;
  s.data_position = data_position;
  s.seed = config.run.seed;
  s.details = {{"config", train_config_to_json(config)}, {"world_size", dist::world_size()}};
  return s;
}

void GrpoTrainer::Impl::save() {
  if (!dist::is_main()) return;  // every rank holds the same weights and optimiser state
  train::save_checkpoint(config.run.out, policy, *optimizer, tokenizer_dir, state(), config.run.keep_checkpoints);
}

void GrpoTrainer::Impl::load(const fs::path& checkpoint) {
  const auto saved = read_trainer_state(checkpoint);
  // The prompts and groups of the remaining steps follow from these; other keys (lr, steps, ...) may change.
  if (saved.trainer == TrainerKind::Grpo && saved.details.contains("config"))
    for (const auto& change : compare_resumed_config(saved.details["config"], train_config_to_json(config),
                                                     {"run.seed", "rollout.group_size", "optim.batch_size", "data"},
                                                     (checkpoint / "trainer_state.json").string()))
      std::fprintf(stderr, "train: resuming with a changed setting: %s\n", change.c_str());
  // Another world size resumes correctly (the data position counts prompts; the optimiser state is every
  // rank's), but its steps split the prompts differently, so the run does not repeat an uninterrupted one.
  const auto saved_world = saved.details.value("world_size", 1);
  if (saved_world != dist::world_size() && dist::is_main())
    std::fprintf(stderr, "train: warning: the checkpoint was written by %d rank(s), this run has %d; continuing\n",
                 saved_world, dist::world_size());
  step = saved.step;
  // An SFT checkpoint counts examples, not problems: continue at the step's place in our data.
  data_position = saved.trainer == TrainerKind::Grpo ? saved.data_position : step * config.prompts_per_step();
  LoadOptions o;
  o.device = policy.device();
  o.dtype = policy.dtype();
  policy = Model::load(checkpoint, o);
  make_optimizer();
  const auto note = load_optimizer_state(*optimizer, checkpoint);
  if (config.run.progress && dist::is_main())
    std::fprintf(stderr, "train: %s checkpoint %s (step %lld): %s\n", trainer_kind_name(saved.trainer),
                 checkpoint.string().c_str(), static_cast<long long>(step), note.c_str());
}

// At step 0, every eval.every steps, and at the last step.
bool GrpoTrainer::Impl::evaluation_due() const {
  return config.eval.enabled() && (step == 0 || step % config.eval.every == 0 || step == config.run.steps);
}

// The policy on the held-out problems through the library's evaluation (eval/evaluate.h): the eval/...
// metrics of this step's row. A caller's reward (tests, synthetic tasks) scores the training task's
// evaluations too; another task is scored by its own reward.
Json GrpoTrainer::Impl::evaluate_policy() const {
  const auto t0 = Clock::now();
  const auto& e = config.eval;
  eval::EvalOptions o;
  o.k = e.k;
  o.temperature = e.temperature;
  o.max_new_tokens = e.max_new_tokens;
  o.limit = e.limit;
  o.chat = config.data.prompt_style == data::PromptStyle::Chat;
  o.seed = config.run.seed;  // the same samples' streams at every evaluation: differences are the policy's
  o.prompts_per_batch = std::max<std::int64_t>(1, config.max_batch_rows / e.k);
  o.show_progress = false;  // inside the training progress line
  o.score.countdown = config.countdown;
  if (reward && e.task == task) o.scorer = reward;
  const auto result = eval::evaluate(policy, tokenizer, e.task, eval_problems, o);
  const auto& s = result.summary;
  const double responses = s.at("problems").get<double>() * static_cast<double>(e.k);
  Json m;
  m["eval/accuracy"] = s.at("pass@1");  // mean of c/n: greedy accuracy, or pass@1 under sampling
  if (e.k > 1) m["eval/pass@k"] = s.at("pass@k");
  m["eval/reward_mean"] = s.at("reward_mean");
  m["eval/mean_length"] = s.at("response_length_mean");
  m["eval/format_rate"] = 1.0 - s.at("unformatted_responses").get<double>() / responses;
  m["timing/eval"] = seconds_since(t0);
  return m;
}

// The evaluation history from metrics.jsonl (after RunLog trimmed it to the resumed step), and whether
// OUT/checkpoints/best is the model of that history's peak. It is not when the run died after a best
// model was saved at a step past its last checkpoint (those steps are redone); then the first redone
// evaluation that reaches the log's peak replaces it.
void GrpoTrainer::Impl::load_eval_history() {
  eval_history.clear();
  best_is_log_peak = false;
  const auto log = config.run.out / "metrics.jsonl";
  if (!config.eval.enabled() || !fs::exists(log)) return;
  for (const auto& row : read_jsonl_file(log)) {
    auto accuracy = row.find("eval/accuracy");
    auto row_step = row.find("step");
    if (accuracy == row.end() || !accuracy->is_number() || row_step == row.end() || !row_step->is_number_integer()) continue;
    eval_history.push_back({row_step->get<std::int64_t>(), accuracy->get<double>()});
  }
  if (eval_history.empty()) return;
  const auto best = read_best_checkpoint_state(config.run.out);
  best_is_log_peak = best && best->step == eval::summarize_curve(eval_history).peak.step;
}

// After the row reached metrics.jsonl: a new best model replaces OUT/checkpoints/best, and
// OUT/eval_summary.json is rewritten from the history.
void GrpoTrainer::Impl::record_evaluation(const Json& row) {
  const double accuracy = row.at("eval/accuracy").get<double>();
  bool best = eval_history.empty();
  if (!best) {
    const double peak = eval::summarize_curve(eval_history).peak.value;
    best = accuracy > peak || (!best_is_log_peak && accuracy >= peak);
  }
  eval_history.push_back({step, accuracy});
  if (best) {
    auto s = state();
    s.details["eval"] = {{"step", step}, {"accuracy", accuracy}, {"metric", "eval/accuracy"}};
    save_best_checkpoint(config.run.out, policy, tokenizer_dir, s);
    best_is_log_peak = true;
  }
  write_eval_summary();
}

void GrpoTrainer::Impl::write_eval_summary() const {
  const auto curve = eval::summarize_curve(eval_history);
  Json summary = eval::curve_summary_json(curve);
  summary["metric"] = "eval/accuracy";
  summary["task"] = data::task_name(config.eval.task);
  summary["data"] = config.eval.data.string();
  summary["k"] = config.eval.k;
  summary["temperature"] = config.eval.temperature;
  summary["problems"] = config.eval.limit > 0 ? std::min<std::int64_t>(config.eval.limit, static_cast<std::int64_t>(eval_problems.size()))
                                              : static_cast<std::int64_t>(eval_problems.size());
  if (best_is_log_peak) summary["best_checkpoint"] = {{"path", "checkpoints/best"}, {"step", curve.peak.step}};
  Json history = Json::array();
  for (std::size_t i = 0; i < eval_history.size(); ++i)
    history.push_back({{"step", eval_history[i].step}, {"accuracy", eval_history[i].value}, {"ema", curve.ema[i]}});
  summary["history"] = std::move(history);
  write_file_atomic(config.run.out / "eval_summary.json", summary.dump(2) + "\n");
}

GrpoTrainer::GrpoTrainer(TrainConfig config, Model policy, Tokenizer tokenizer, fs::path tokenizer_dir,
                         std::vector<data::Problem> problems, RewardFn reward)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(policy), std::move(tokenizer), std::move(tokenizer_dir),
                                   std::move(problems), std::move(reward))) {}
GrpoTrainer::~GrpoTrainer() = default;

Json GrpoTrainer::step() { return impl_->do_step(); }
void GrpoTrainer::save_checkpoint() { impl_->save(); }
std::int64_t GrpoTrainer::current_step() const { return impl_->step; }
std::int64_t GrpoTrainer::data_position() const { return impl_->data_position; }
const Model& GrpoTrainer::policy() const { return impl_->policy; }
const TrainConfig& GrpoTrainer::config() const { return impl_->config; }
const AdamW& GrpoTrainer::optimizer() const { return *impl_->optimizer; }

bool GrpoTrainer::resume() {
  auto newest = newest_checkpoint(impl_->config.run.out);
  if (!newest) return false;
  impl_->load(*newest);
  return true;
}

void GrpoTrainer::run(std::optional<std::int64_t> stop_after) {
  auto& c = impl_->config;
  // With several ranks, rank 0 writes the run's files and evaluates; the others train and write nothing.
  const bool main = dist::is_main();
  std::optional<RunLog> metrics;
  std::optional<StepLog> samples;
  if (main) {
    ensure_directory(c.run.out);
    write_file_atomic(c.run.out / "config.json", train_config_to_json(c).dump(2) + "\n");
    // A fresh run starts a new metrics file; a resumed one drops the rows logged after its checkpoint.
    const auto resumed_at = impl_->step > 0 ? std::optional<std::int64_t>(impl_->step) : std::nullopt;
    metrics.emplace(c.run.out / "metrics.jsonl", resumed_at, c.run.tensorboard);
    samples.emplace(c.run.out / "samples.jsonl", resumed_at, c.run.log_samples > 0);
    impl_->load_eval_history();
    // Before training: the starting policy's evaluation, a row of its own at step 0.
    if (impl_->step == 0 && impl_->evaluation_due()) {  // (a run at step 0 starts a fresh log)
      Json row = {{"step", 0}, {"data_position", impl_->data_position}};
      row.update(impl_->evaluate_policy());
      metrics->append(row);
      impl_->record_evaluation(row);
    }
  }
  Progress progress("train", c.run.steps, "step", c.run.progress && main);
  progress.resume_from(impl_->step);
  std::int64_t done = 0;
  InterruptGuard interrupt;
  while (impl_->step < c.run.steps && (!stop_after || done < *stop_after)) {
    if (dist::any(InterruptGuard::requested())) {  // every rank stops at the same step
      progress.finish();
      throw Interrupted(fmt::format("train: interrupted at step {}; {}", impl_->step, last_checkpoint_note(c.run.out)));
    }
    auto row = impl_->do_step();
    const bool evaluated = main && impl_->evaluation_due();
    if (evaluated) row.update(impl_->evaluate_policy());
    if (metrics) metrics->append(row);
    if (samples)
      for (const auto& sample : impl_->step_samples) samples->append(sample);
    if (evaluated) impl_->record_evaluation(row);
    ++done;
    // The step's headline metrics under their metrics.jsonl names (docs/metrics.md).
    std::string eval_note;
    if (!impl_->eval_history.empty()) eval_note = fmt::format(" eval/accuracy {:.3f}", impl_->eval_history.back().value);
    progress.advance(1, fmt::format("reward/mean {:.3f} accuracy {:.3f} completions/mean_length {:.0f} share_attention {:.1f}%{}",
                                    row["reward/mean"].get<double>(), row["accuracy"].get<double>(),
                                    row["completions/mean_length"].get<double>(), 100 * row["share_attention"].get<double>(),
                                    eval_note));
    if ((c.run.save_every > 0 && impl_->step % c.run.save_every == 0) || impl_->step == c.run.steps) impl_->save();
  }
  progress.finish();
}

void run_training(const TrainConfig& config, bool resume) {
  init_torch_runtime();
  LoadOptions o;
  o.device = parse_device(config.model.device.str());  // checks that CUDA is present
  o.dtype = config.model.dtype;
  // Settings that need the model's shape, checked before the weights load and the first rollout.
  attention_stats_config(ModelConfig::load(config.model.dir), attention_pass_options(config));  // layers and heads
  auto model = Model::load(config.model.dir, o);
  auto tokenizer = Tokenizer::from_dir(config.model.dir);
  auto problems = data::load_problems(config.data.task, config.data.path);
  if (config.data.limit > 0 && static_cast<std::int64_t>(problems.size()) > config.data.limit)
    problems.resize(static_cast<std::size_t>(config.data.limit));
  GrpoTrainer trainer(config, std::move(model), std::move(tokenizer), config.model.dir, std::move(problems));
  if (resume) {
    if (trainer.resume()) {
      if (dist::is_main())
        std::printf("train: resumed from step %lld\n", static_cast<long long>(trainer.current_step()));
    } else {
      std::printf("train: no checkpoint under %s; starting fresh\n", config.run.out.c_str());
    }
  } else if (!list_checkpoints(config.run.out).empty()) {
    fail("{}: has checkpoints already; pass --resume to continue, --overwrite to start over, or choose another run.out",
         config.run.out.string());
  }
  trainer.run();
}

}  // namespace illume::train

#include "illume/train/grpo_trainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>

#include "illume/infer/generate.h"
#include "illume/io/safetensors_torch.h"
#include "illume/model/device.h"
#include "illume/rl/advantage.h"
#include "illume/rl/credit.h"
#include "illume/rl/policy_loss.h"
#include "illume/text/chat.h"
#include "illume/train/attention_pass.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/progress.h"

namespace illume::train {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// SplitMix64: independent seeds from (seed, step, purpose) without any stored RNG state.
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t step, std::uint64_t purpose) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ULL ^ (step + 1) * 0xBF58476D1CE4E5B9ULL ^ (purpose + 1) * 0x94D049BB133111EBULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::string step_dir_name(std::int64_t step) { return fmt::format("step-{:06d}", step); }

// One rollout row: prompt + response ids, with lengths.
struct Row {
  std::vector<std::int32_t> ids;
  std::int64_t prompt_length = 0, response_length = 0;
};

// [b, T] ids and mask for the given rows (right padding with `pad`).
std::pair<at::Tensor, at::Tensor> pack_rows(const std::vector<const Row*>& rows, std::int32_t pad, c10::Device device) {
  std::int64_t T = 0;
  for (const Row* r : rows) T = std::max<std::int64_t>(T, r->ids.size());
  const auto B = static_cast<std::int64_t>(rows.size());
  auto ids = torch::full({B, T}, pad, torch::kLong);
  auto mask = torch::zeros({B, T}, torch::kLong);
  auto ia = ids.accessor<std::int64_t, 2>();
  auto ma = mask.accessor<std::int64_t, 2>();
  for (std::int64_t b = 0; b < B; ++b)
    for (std::size_t t = 0; t < rows[b]->ids.size(); ++t) {
      ia[b][t] = rows[b]->ids[t];
      ma[b][t] = 1;
    }
  return {ids.to(device), mask.to(device)};
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


void write_json_atomic(const fs::path& path, const Json& j) { write_file_atomic(path, j.dump(2) + "\n"); }

}  // namespace

ResponseLogprobs response_logprobs(const Model& model, const at::Tensor& ids, const at::Tensor& mask,
                                   const std::vector<std::int64_t>& prompt_lengths,
                                   const std::vector<std::int64_t>& response_lengths, double temperature,
                                   bool want_entropy, AttentionObserver* observer) {
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
  auto logits = model.logits(h);                                                        // [B, R, V] f32
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

std::vector<fs::path> list_checkpoints(const fs::path& out_dir) {
  std::vector<fs::path> out;
  auto dir = out_dir / "checkpoints";
  if (!fs::is_directory(dir)) return out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    auto name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("step-", 0) == 0 && fs::exists(entry.path() / "trainer_state.json"))
      out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct GrpoTrainer::Impl {
  TrainConfig config;
  Model policy;
  std::optional<Model> reference;
  Tokenizer tokenizer;
  fs::path tokenizer_dir;
  std::vector<data::Problem> problems;
  RewardFn reward;
  data::Task task;
  std::vector<std::vector<std::int32_t>> prompt_ids;  // per problem, tokenised lazily
  std::vector<std::int32_t> stops;
  std::int32_t pad_id = 0;
  std::unique_ptr<torch::optim::AdamW> optimizer;
  std::int64_t step = 0;
  std::int64_t data_position = 0;
  std::int64_t cached_epoch = -1;
  std::vector<std::size_t> permutation;

  Impl(TrainConfig c, Model m, Tokenizer t, fs::path tdir, std::vector<data::Problem> p, RewardFn r)
      : config(std::move(c)), policy(std::move(m)), tokenizer(std::move(t)), tokenizer_dir(std::move(tdir)),
        problems(std::move(p)), reward(std::move(r)), task(config.data.task) {
    if (problems.empty()) fail("{}: no training problems", config.data.path.string());
    prompt_ids.resize(problems.size());
    stops = default_stop_tokens(policy.config(), tokenizer);
    if (auto pad = tokenizer.pad_token_id()) pad_id = *pad;
    else if (!stops.empty()) pad_id = stops.front();
    if (config.loss.kl_coef > 0) {
      LoadOptions o;
      o.device = policy.device();
      o.dtype = policy.dtype();
      reference = Model::load(config.model.dir, o);
      reference->set_requires_grad(false);
    }
    make_optimizer();
  }

  void make_optimizer() {
    policy.set_requires_grad(true);
    torch::optim::AdamWOptions o(config.optim.lr);
    o.betas({config.optim.beta1, config.optim.beta2}).eps(config.optim.adam_eps).weight_decay(config.optim.weight_decay);
    optimizer = std::make_unique<torch::optim::AdamW>(policy.parameters(), o);
  }

  const std::vector<std::int32_t>& prompt_of(std::size_t index) {
    auto& ids = prompt_ids[index];
    if (ids.empty()) {
      ids = tokenizer.encode(data::prompt_text(task, problems[index], config.data.prompt_style), true);
      if (ids.empty()) fail("{}: problem '{}' has an empty prompt", config.data.path.string(), problems[index].id);
    }
    return ids;
  }

  // The problem at a global data position: per-epoch seeded permutation (or file order).
  std::size_t problem_at(std::int64_t position) {
    const auto n = static_cast<std::int64_t>(problems.size());
    const auto epoch = position / n;
    if (epoch != cached_epoch) {
      permutation.resize(problems.size());
      std::iota(permutation.begin(), permutation.end(), 0);
      if (config.data.shuffle) {
        std::mt19937_64 rng(mix_seed(config.run.seed, static_cast<std::uint64_t>(epoch), 1));
        // Fisher-Yates with our own index draws (std::shuffle's algorithm is library-defined).
        for (std::size_t i = permutation.size(); i > 1; --i) std::swap(permutation[i - 1], permutation[rng() % i]);
      }
      cached_epoch = epoch;
    }
    return permutation[position % n];
  }

  reward::RewardResult score(const data::Problem& problem, const std::string& text) const {
    if (reward) return reward(problem, text);
    data::ScoreOptions o;
    o.countdown.format_reward = config.countdown_format_reward;
    o.countdown.use_all_numbers = config.countdown_use_all_numbers;
    return data::score_response(task, problem, text, o);
  }

  Json do_step();
  void save(const fs::path& out_dir);
  void load(const fs::path& checkpoint);
};

Json GrpoTrainer::Impl::do_step() {
  const auto step_start = Clock::now();
  const auto G = config.group_size;
  const auto P = config.prompts_per_step();
  const auto device = policy.device();

  // 1. prompts
  std::vector<std::size_t> chosen;
  std::vector<std::vector<std::int32_t>> prompts;
  for (std::int64_t i = 0; i < P; ++i) {
    chosen.push_back(problem_at(data_position + i));
    prompts.push_back(prompt_of(chosen.back()));
  }

  // 2. rollouts
  auto t0 = Clock::now();
  SamplingOptions sampling;
  sampling.temperature = config.temperature;
  sampling.top_p = config.top_p;
  sampling.seed = mix_seed(config.run.seed, static_cast<std::uint64_t>(step), 2);
  sampling.max_new_tokens = config.max_response_tokens;
  sampling.num_samples = G;
  sampling.stop_token_ids = stops;
  sampling.max_batch_rows = config.max_batch_rows;
  std::vector<Completion> completions;
  {
    torch::NoGradGuard no_grad;
    completions = generate(policy, prompts, sampling,
                           [this](const std::vector<std::int32_t>& ids) { return tokenizer.decode(ids, true); });
  }
  const double time_generate = seconds_since(t0);

  // 3. rewards and advantages
  t0 = Clock::now();
  const auto N = static_cast<std::int64_t>(completions.size());
  auto rewards = torch::zeros({N}, torch::kDouble);
  double correct = 0, length_sum = 0, length_max = 0, truncated = 0;
  for (std::int64_t i = 0; i < N; ++i) {
    const auto& c = completions[i];
    auto r = score(problems[chosen[c.prompt_index]], c.text);
    rewards[i] = r.reward;
    correct += r.correct ? 1 : 0;
    length_sum += c.ids.size();
    length_max = std::max<double>(length_max, c.ids.size());
    truncated += c.finish_reason == "length" ? 1 : 0;
  }
  auto advantages = grpo_advantages(rewards, G, config.adv_eps, config.scale_by_std).to(torch::kFloat);
  auto informative = informative_groups(rewards, G);
  std::vector<std::int64_t> kept;
  for (std::int64_t i = 0; i < N; ++i)
    if (!completions[i].ids.empty() && (!config.dynamic_sampling || informative[i].item<bool>())) kept.push_back(i);
  const double time_score = seconds_since(t0);

  Json m;
  m["step"] = step + 1;
  m["data_position"] = data_position + P;
  m["reward_mean"] = rewards.mean().item<double>();
  m["reward_std"] = N > 1 ? rewards.std().item<double>() : 0.0;
  m["accuracy"] = correct / N;
  m["response_length_mean"] = length_sum / N;
  m["response_length_max"] = length_max;
  m["truncated_fraction"] = truncated / N;
  m["informative_group_fraction"] = informative.to(torch::kDouble).mean().item<double>();
  m["responses_trained"] = static_cast<std::int64_t>(kept.size());

  // Rows of the trained batch, in a seeded order (micro-batches mix prompts).
  std::vector<Row> rows;
  std::vector<std::int64_t> lengths;
  for (auto i : kept) {
    Row r;
    r.ids = prompts[completions[i].prompt_index];
    r.prompt_length = static_cast<std::int64_t>(r.ids.size());
    r.ids.insert(r.ids.end(), completions[i].ids.begin(), completions[i].ids.end());
    r.response_length = static_cast<std::int64_t>(completions[i].ids.size());
    rows.push_back(std::move(r));
    lengths.push_back(rows.back().response_length);
  }
  const auto B = static_cast<std::int64_t>(rows.size());
  std::int64_t R = 1;
  for (auto l : lengths) R = std::max(R, l);
  const auto micro = config.optim.micro_batch_size;

  auto chunk_of = [&](std::int64_t begin, std::int64_t end) {
    std::vector<const Row*> rs;
    std::vector<std::int64_t> pl, rl;
    for (auto b = begin; b < end; ++b) {
      rs.push_back(&rows[b]);
      pl.push_back(rows[b].prompt_length);
      rl.push_back(rows[b].response_length);
    }
    return std::make_tuple(rs, pl, rl);
  };

  // 4-5. Old log-probs (+ entropies, reference log-probs) from the training forward, no grad; for the
  // strategies that read WAAD/FAI/Delta the attention statistics ride on that same forward (the
  // attention pass), so they cost only the observer's time.
  t0 = Clock::now();
  auto old_logprobs = torch::zeros({B, R});
  auto entropy = torch::zeros({B, R});
  at::Tensor ref_logprobs;
  if (reference) ref_logprobs = torch::zeros({B, R});
  auto resp_mask = response_mask(lengths, R);
  CreditInputs credit_in;
  credit_in.response_mask = resp_mask;
  credit_in.entropy = entropy;
  const bool with_attention = config.needs_attention() && B > 0;
  if (with_attention) {
    credit_in.waad = torch::zeros({B, R});
    credit_in.fai = torch::zeros({B, R});
    credit_in.delta = torch::zeros({B, R});
  }
  double time_attention = 0;
  {
    torch::NoGradGuard no_grad;
    const AttentionPassOptions ao{config.attention_layers, config.window, config.horizon_lo, config.horizon_hi};
    for (std::int64_t begin = 0; begin < B; begin += micro) {
      auto end = std::min(B, begin + micro);
      auto [rs, pl, rl] = chunk_of(begin, end);
      auto [ids, mask] = pack_rows(rs, pad_id, device);
      ResponseLogprobs lp;
      if (with_attention) {
        auto stats = attention_pass(policy, pl, rl, ao, [&](AttentionObserver* observer) {
          lp = response_logprobs(policy, ids, mask, pl, rl, config.temperature, true, observer);
        });
        credit_in.waad.narrow(0, begin, end - begin).copy_(pad_columns(stats.waad, R));
        credit_in.fai.narrow(0, begin, end - begin).copy_(pad_columns(stats.fai, R));
        credit_in.delta.narrow(0, begin, end - begin).copy_(pad_columns(stats.delta, R));
        time_attention += stats.statistics_seconds;
      } else {
        lp = response_logprobs(policy, ids, mask, pl, rl, config.temperature, true);
      }
      old_logprobs.narrow(0, begin, end - begin).copy_(pad_columns(lp.logprobs.cpu(), R));
      entropy.narrow(0, begin, end - begin).copy_(pad_columns(lp.entropy.cpu(), R));
      if (reference) {
        auto ref = response_logprobs(*reference, ids, mask, pl, rl, config.temperature, false);
        ref_logprobs.narrow(0, begin, end - begin).copy_(pad_columns(ref.logprobs.cpu(), R));
      }
    }
  }
  const double time_old = seconds_since(t0) - time_attention;

  // 6. gamma and token advantages (no grad)
  CreditOptions credit = config.credit;
  credit.seed = mix_seed(config.run.seed, static_cast<std::uint64_t>(step), 3);
  at::Tensor gamma, token_adv;
  {
    torch::NoGradGuard no_grad;
    gamma = B > 0 ? compute_gamma(credit_in, credit) : torch::ones({0, R});
    auto kept_index = torch::tensor(kept, torch::kLong);
    auto adv_kept = B > 0 ? advantages.index_select(0, kept_index) : torch::zeros({0});
    token_adv = B > 0 ? token_advantages(adv_kept, gamma, resp_mask, config.sign) : torch::zeros({0, R});
  }
  {
    auto sel = gamma.masked_select(resp_mask);
    m["gamma_mean"] = sel.numel() ? sel.mean().item<double>() : 1.0;
    m["gamma_amplified_fraction"] = sel.numel() ? (sel > 1.0 + 1e-6).to(torch::kDouble).mean().item<double>() : 0.0;
    auto ent = entropy.masked_select(resp_mask);
    m["entropy"] = ent.numel() ? ent.mean().item<double>() : 0.0;
  }

  // 7. PPO-clip updates: one AdamW step per micro-batch
  t0 = Clock::now();
  std::vector<std::int64_t> order(B);
  std::iota(order.begin(), order.end(), 0);
  {
    std::mt19937_64 rng(mix_seed(config.run.seed, static_cast<std::uint64_t>(step), 4));
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  }
  double loss_sum = 0, clip_sum = 0, kl_old_sum = 0, kl_ref_sum = 0, grad_norm_sum = 0, tokens_sum = 0;
  std::int64_t optimizer_steps = 0;
  auto params = policy.parameters();
  for (std::int64_t begin = 0; begin < B; begin += micro) {
    auto end = std::min(B, begin + micro);
    std::vector<const Row*> rs;
    std::vector<std::int64_t> pl, rl, idx;
    for (auto i = begin; i < end; ++i) {
      idx.push_back(order[i]);
      rs.push_back(&rows[order[i]]);
      pl.push_back(rows[order[i]].prompt_length);
      rl.push_back(rows[order[i]].response_length);
    }
    auto index = torch::tensor(idx, torch::kLong);
    auto [ids, mask] = pack_rows(rs, pad_id, device);
    auto lp = response_logprobs(policy, ids, mask, pl, rl, config.temperature, false);
    const auto r = lp.logprobs.size(1);
    auto sub = [&](const at::Tensor& x) { return x.index_select(0, index).narrow(1, 0, r).to(device); };
    auto mb_mask = sub(resp_mask);
    auto result = ppo_clip_loss(lp.logprobs, sub(old_logprobs), sub(token_adv), mb_mask, config.loss,
                                reference ? sub(ref_logprobs) : at::Tensor());
    optimizer->zero_grad();
    result.loss.backward();
    double grad_norm = 0;
    if (config.optim.grad_clip > 0) grad_norm = torch::nn::utils::clip_grad_norm_(params, config.optim.grad_clip);
    else {
      for (auto& p : params)
        if (p.grad().defined()) grad_norm += p.grad().pow(2).sum().item<double>();
      grad_norm = std::sqrt(grad_norm);
    }
    optimizer->step();
    ++optimizer_steps;
    const double tokens = mb_mask.sum().item<double>();
    loss_sum += result.loss.item<double>() * tokens;
    clip_sum += result.clip_fraction * tokens;
    kl_old_sum += result.approx_kl_old * tokens;
    kl_ref_sum += result.kl_ref * tokens;
    grad_norm_sum += grad_norm;
    tokens_sum += tokens;
  }
  optimizer->zero_grad();
  const double time_train = seconds_since(t0);
  const double tok = std::max(tokens_sum, 1.0);
  m["loss"] = loss_sum / tok;
  m["clip_fraction"] = clip_sum / tok;
  m["approx_kl_old"] = kl_old_sum / tok;
  m["kl_ref"] = kl_ref_sum / tok;
  m["grad_norm_mean"] = optimizer_steps ? grad_norm_sum / optimizer_steps : 0.0;
  m["optimizer_steps"] = optimizer_steps;
  m["lr"] = config.optim.lr;

  const double total = seconds_since(step_start);
  m["time_generate"] = time_generate;
  m["time_score"] = time_score;
  m["time_old_logprobs"] = time_old;
  m["time_attention"] = time_attention;
  m["time_train"] = time_train;
  m["time_step"] = total;
  m["share_generate"] = time_generate / total;
  m["share_attention"] = time_attention / total;
  m["share_train"] = (time_train + time_old) / total;

  ++step;
  data_position += P;
  return m;
}

void GrpoTrainer::Impl::save(const fs::path& out_dir) {
  auto root = out_dir / "checkpoints";
  ensure_directory(root);
  auto final_dir = root / step_dir_name(step);
  auto tmp = root / (".tmp-" + step_dir_name(step));
  fs::remove_all(tmp);
  ensure_directory(tmp);
  // The model in Hugging Face layout (other tools load it as a model folder).
  policy.save(tmp);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    if (fs::exists(tokenizer_dir / f)) fs::copy_file(tokenizer_dir / f, tmp / f, fs::copy_options::overwrite_existing);
  // AdamW state per parameter, in parameters() order.
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  Json steps = Json::array();
  const auto& group_params = optimizer->param_groups().at(0).params();
  for (std::size_t i = 0; i < group_params.size(); ++i) {
    auto key = c10::guts::to_string(group_params[i].unsafeGetTensorImpl());
    auto it = optimizer->state().find(key);
    if (it == optimizer->state().end()) {
      steps.push_back(nullptr);
      continue;
    }
    auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
    steps.push_back(s.step());
    tensors.emplace_back(fmt::format("{}.exp_avg", i), s.exp_avg());
    tensors.emplace_back(fmt::format("{}.exp_avg_sq", i), s.exp_avg_sq());
  }
  save_safetensors(tmp / "optimizer.safetensors", tensors);
  write_json_atomic(tmp / "optimizer.json", {{"type", "AdamW"}, {"num_params", group_params.size()}, {"step", steps}});
  write_json_atomic(tmp / "trainer_state.json",
                    {{"step", step}, {"data_position", data_position}, {"seed", config.run.seed},
                     {"rng", "every random stream is derived from (seed, step); nothing else to store"},
                     {"config", train_config_to_json(config)}});
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
  auto all = list_checkpoints(out_dir);
  for (std::size_t i = 0; i + static_cast<std::size_t>(config.run.keep_checkpoints) < all.size(); ++i) fs::remove_all(all[i]);
}

void GrpoTrainer::Impl::load(const fs::path& checkpoint) {
  auto state = read_json_file(checkpoint / "trainer_state.json");
  const auto source = (checkpoint / "trainer_state.json").string();
  step = json_get<std::int64_t>(state, "step", source);
  data_position = json_get<std::int64_t>(state, "data_position", source);
  LoadOptions o;
  o.device = policy.device();
  o.dtype = policy.dtype();
  policy = Model::load(checkpoint, o);
  make_optimizer();
  auto opt = read_json_file(checkpoint / "optimizer.json");
  auto steps = opt.at("step");
  auto tensors = load_safetensors(checkpoint / "optimizer.safetensors");
  const auto& group_params = optimizer->param_groups().at(0).params();
  if (steps.size() != group_params.size())
    fail("{}: optimiser state has {} parameters, the model {}", (checkpoint / "optimizer.json").string(), steps.size(),
         group_params.size());
  for (std::size_t i = 0; i < group_params.size(); ++i) {
    if (steps[i].is_null()) continue;
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(steps[i].get<std::int64_t>());
    auto get = [&](const std::string& name) {
      auto it = tensors.find(name);
      if (it == tensors.end()) fail("{}: missing tensor '{}'", (checkpoint / "optimizer.safetensors").string(), name);
      return it->second.clone().to(group_params[i].device());
    };
    s->exp_avg(get(fmt::format("{}.exp_avg", i)));
    s->exp_avg_sq(get(fmt::format("{}.exp_avg_sq", i)));
    optimizer->state()[c10::guts::to_string(group_params[i].unsafeGetTensorImpl())] = std::move(s);
  }
}

GrpoTrainer::GrpoTrainer(TrainConfig config, Model policy, Tokenizer tokenizer, fs::path tokenizer_dir,
                         std::vector<data::Problem> problems, RewardFn reward)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(policy), std::move(tokenizer), std::move(tokenizer_dir),
                                   std::move(problems), std::move(reward))) {}
GrpoTrainer::~GrpoTrainer() = default;

Json GrpoTrainer::step() { return impl_->do_step(); }
void GrpoTrainer::save_checkpoint() { impl_->save(impl_->config.run.out); }
std::int64_t GrpoTrainer::current_step() const { return impl_->step; }
std::int64_t GrpoTrainer::data_position() const { return impl_->data_position; }
const Model& GrpoTrainer::policy() const { return impl_->policy; }
const TrainConfig& GrpoTrainer::config() const { return impl_->config; }

bool GrpoTrainer::resume() {
  auto all = list_checkpoints(impl_->config.run.out);
  if (all.empty()) return false;
  impl_->load(all.back());
  // Rows written after the checkpoint (by a run killed later) are dropped: they will be redone.
  auto metrics = impl_->config.run.out / "metrics.jsonl";
  if (fs::exists(metrics)) {
    std::string kept;
    auto text = read_file(metrics);
    std::size_t start = 0;
    while (start < text.size()) {
      auto nl = text.find('\n', start);
      if (nl == std::string::npos) break;  // a half line from a kill
      auto line = text.substr(start, nl - start);
      start = nl + 1;
      if (line.empty()) continue;
      auto row = parse_json(line, metrics.string());
      if (row.value("step", std::int64_t{0}) <= impl_->step) kept += line + "\n";
    }
    write_file_atomic(metrics, kept);
  }
  return true;
}

void GrpoTrainer::run(std::optional<std::int64_t> stop_after) {
  auto& c = impl_->config;
  ensure_directory(c.run.out);
  write_json_atomic(c.run.out / "config.json", train_config_to_json(c));
  // A fresh run starts a new metrics file; a resumed one appends after the rows resume() kept.
  JsonlWriter metrics(c.run.out / "metrics.jsonl", /*append=*/impl_->step > 0);
  Progress progress("train", c.run.steps, "step", c.run.progress);
  progress.set(impl_->step);
  std::int64_t done = 0;
  while (impl_->step < c.run.steps && (!stop_after || done < *stop_after)) {
    auto row = impl_->do_step();
    metrics.write(row);
    ++done;
    progress.advance(1, fmt::format("reward {:.3f} acc {:.3f} len {:.0f} attn {:.1f}%", row["reward_mean"].get<double>(),
                                    row["accuracy"].get<double>(), row["response_length_mean"].get<double>(),
                                    100 * row["share_attention"].get<double>()));
    if ((c.run.save_every > 0 && impl_->step % c.run.save_every == 0) || impl_->step == c.run.steps) impl_->save(c.run.out);
  }
  progress.finish();
}

void run_training(const TrainConfig& config, bool resume) {
  init_torch_runtime();
  LoadOptions o;
  o.device = parse_device(config.model.device.str());  // checks that CUDA is present
  o.dtype = config.model.dtype;
  auto model = Model::load(config.model.dir, o);
  auto tokenizer = Tokenizer::from_dir(config.model.dir);
  auto problems = data::load_problems(config.data.task, config.data.path);
  if (config.data.limit > 0 && static_cast<std::int64_t>(problems.size()) > config.data.limit)
    problems.resize(static_cast<std::size_t>(config.data.limit));
  GrpoTrainer trainer(config, std::move(model), std::move(tokenizer), config.model.dir, std::move(problems));
  if (resume) {
    if (trainer.resume())
      std::printf("train: resumed from step %lld\n", static_cast<long long>(trainer.current_step()));
    else
      std::printf("train: no checkpoint under %s; starting fresh\n", config.run.out.c_str());
  } else if (!list_checkpoints(config.run.out).empty()) {
    fail("{}: has checkpoints already; pass --resume to continue or choose another run.out", config.run.out.string());
  }
  trainer.run();
}

}  // namespace illume::train

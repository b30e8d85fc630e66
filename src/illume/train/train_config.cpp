#include "illume/train/train_config.h"

#include <algorithm>

#include "illume/rl/advantage.h"

namespace illume::train {

TrainConfig train_config_from_json(const Json& root, const std::string& source) {
  TrainConfig c;
  ConfigReader top(root, source);

  auto model = top.section("model");
  c.model_dir = model.require_string("dir");
  c.device = model.get_string("device", c.device);
  c.dtype = model.get_choice("dtype", c.dtype, {"f32", "bf16", "f16"});
  model.finish();

  auto data = top.section("data");
  c.task = data.require_string("task");
  c.data_path = data.require_string("path");
  c.prompt_style = data.get_choice("prompt_style", c.prompt_style, {"plain", "chat"});
  c.shuffle = data.get_bool("shuffle", c.shuffle);
  c.data_limit = data.get_int("limit", c.data_limit);
  data.finish();

  auto rollout = top.section("rollout");
  c.group_size = rollout.get_int("group_size", c.group_size);
  c.temperature = rollout.get_double("temperature", c.temperature);
  c.top_p = rollout.get_double("top_p", c.top_p);
  c.max_response_tokens = rollout.get_int("max_response_tokens", c.max_response_tokens);
  c.max_batch_rows = rollout.get_int("max_batch_rows", c.max_batch_rows);
  rollout.finish();

  auto optim = top.section("optim");
  c.batch_size = optim.get_int("batch_size", c.batch_size);
  c.micro_batch_size = optim.get_int("micro_batch_size", c.micro_batch_size);
  c.lr = optim.get_double("lr", c.lr);
  c.weight_decay = optim.get_double("weight_decay", c.weight_decay);
  auto betas = optim.get_double_list("betas", {c.beta1, c.beta2});
  if (betas.size() != 2) fail("{}: optim.betas must have two numbers", source);
  c.beta1 = betas[0];
  c.beta2 = betas[1];
  c.adam_eps = optim.get_double("adam_eps", c.adam_eps);
  c.grad_clip = optim.get_double("grad_clip", c.grad_clip);
  optim.finish();

  auto adv = top.section("advantage");
  c.adv_eps = adv.get_double("eps", c.adv_eps);
  c.scale_by_std = adv.get_bool("scale_by_std", c.scale_by_std);
  c.dynamic_sampling = adv.get_bool("dynamic_sampling", c.dynamic_sampling);
  adv.finish();

  auto loss = top.section("loss");
  c.loss.clip_low = loss.get_double("clip_low", c.loss.clip_low);
  c.loss.clip_high = loss.get_double("clip_high", c.loss.clip_high);
  c.loss.aggregation = loss.get_choice("aggregation", c.loss.aggregation, loss_aggregation_names());
  c.loss.kl_coef = loss.get_double("kl_coef", c.loss.kl_coef);
  c.loss.norm_length = loss.get_double("norm_length", c.loss.norm_length);
  loss.finish();

  auto credit = top.section("credit");
  c.credit.strategy = credit.get_choice("strategy", c.credit.strategy, credit_strategy_names());
  c.credit.select = credit.get_choice("select", c.credit.select, {"top", "bottom"});
  c.credit.q = credit.get_double("q", c.credit.q);
  c.credit.gamma_amp = credit.get_double("gamma_amp", c.credit.gamma_amp);
  c.credit.k = static_cast<int>(credit.get_int("k", c.credit.k));
  c.credit.alpha = credit.get_double("alpha", c.credit.alpha);
  if (credit.has("tau_waad")) c.credit.tau_waad = credit.get_double("tau_waad", 0);
  else credit.get_double("tau_waad", 0);  // marks null as read
  if (credit.has("tau_delta")) c.credit.tau_delta = credit.get_double("tau_delta", 0);
  else credit.get_double("tau_delta", 0);
  c.sign = credit.get_choice("sign", c.sign, advantage_sign_modes());
  credit.finish();

  auto att = top.section("attention");
  c.window = att.get_int("window", c.window);
  auto horizon = att.get_double_list("horizon", {double(c.horizon_lo), double(c.horizon_hi)});
  if (horizon.size() != 2) fail("{}: attention.horizon must be [H_lo, H_hi]", source);
  c.horizon_lo = static_cast<std::int64_t>(horizon[0]);
  c.horizon_hi = static_cast<std::int64_t>(horizon[1]);
  for (double l : att.get_double_list("layers", {})) c.attention_layers.push_back(static_cast<int>(l));
  att.finish();

  auto reward = top.section("reward");
  c.countdown_format_reward = reward.get_double("countdown_format_reward", c.countdown_format_reward);
  c.countdown_use_all_numbers = reward.get_bool("countdown_use_all_numbers", c.countdown_use_all_numbers);
  reward.finish();

  auto run = top.section("run");
  c.out_dir = run.require_string("out");
  c.steps = run.get_int("steps", c.steps);
  c.seed = static_cast<std::uint64_t>(run.get_int("seed", 0));
  c.save_every = run.get_int("save_every", c.save_every);
  c.keep_checkpoints = run.get_int("keep_checkpoints", c.keep_checkpoints);
  c.progress = run.get_bool("progress", c.progress);
  run.finish();
  top.finish();

  auto positive = [&](const char* name, double v) {
    if (!(v > 0)) fail("{}: {} must be positive, got {}", source, name, v);
  };
  positive("rollout.group_size", double(c.group_size));
  positive("rollout.max_response_tokens", double(c.max_response_tokens));
  positive("optim.batch_size", double(c.batch_size));
  positive("optim.micro_batch_size", double(c.micro_batch_size));
  positive("optim.lr", c.lr);
  positive("run.steps", double(c.steps));
  if (c.batch_size % c.group_size != 0)
    fail("{}: optim.batch_size ({}) must be a multiple of rollout.group_size ({})", source, c.batch_size, c.group_size);
  if (c.credit.q <= 0 || c.credit.q > 1) fail("{}: credit.q must be in (0, 1], got {}", source, c.credit.q);
  if (c.credit.k < 1) fail("{}: credit.k must be >= 1", source);
  if (c.credit.alpha < 0 || c.credit.alpha > 1) fail("{}: credit.alpha must be in [0, 1]", source);
  if (c.temperature <= 0) fail("{}: rollout.temperature must be > 0 for GRPO sampling", source);
  if (c.loss.aggregation == "seq-mean-token-sum-norm" && c.loss.norm_length <= 0)
    c.loss.norm_length = static_cast<double>(c.max_response_tokens);
  if (c.save_every < 0 || c.keep_checkpoints < 1) fail("{}: run.save_every >= 0 and run.keep_checkpoints >= 1", source);
  return c;
}

Json train_config_to_json(const TrainConfig& c) {
  Json tau_waad = c.credit.tau_waad ? Json(*c.credit.tau_waad) : Json(nullptr);
  Json tau_delta = c.credit.tau_delta ? Json(*c.credit.tau_delta) : Json(nullptr);
  return {
      {"model", {{"dir", c.model_dir}, {"device", c.device}, {"dtype", c.dtype}}},
      {"data", {{"task", c.task}, {"path", c.data_path}, {"prompt_style", c.prompt_style}, {"shuffle", c.shuffle},
                {"limit", c.data_limit}}},
      {"rollout", {{"group_size", c.group_size}, {"temperature", c.temperature}, {"top_p", c.top_p},
                   {"max_response_tokens", c.max_response_tokens}, {"max_batch_rows", c.max_batch_rows}}},
      {"optim", {{"batch_size", c.batch_size}, {"micro_batch_size", c.micro_batch_size}, {"lr", c.lr},
                 {"weight_decay", c.weight_decay}, {"betas", {c.beta1, c.beta2}}, {"adam_eps", c.adam_eps},
                 {"grad_clip", c.grad_clip}}},
      {"advantage", {{"eps", c.adv_eps}, {"scale_by_std", c.scale_by_std}, {"dynamic_sampling", c.dynamic_sampling}}},
      {"loss", {{"clip_low", c.loss.clip_low}, {"clip_high", c.loss.clip_high}, {"aggregation", c.loss.aggregation},
                {"kl_coef", c.loss.kl_coef}, {"norm_length", c.loss.norm_length}}},
      {"credit", {{"strategy", c.credit.strategy}, {"select", c.credit.select}, {"q", c.credit.q},
                  {"gamma_amp", c.credit.gamma_amp}, {"k", c.credit.k}, {"alpha", c.credit.alpha},
                  {"tau_waad", tau_waad}, {"tau_delta", tau_delta}, {"sign", c.sign}}},
      {"attention", {{"window", c.window}, {"horizon", {c.horizon_lo, c.horizon_hi}}, {"layers", c.attention_layers}}},
      {"reward", {{"countdown_format_reward", c.countdown_format_reward},
                  {"countdown_use_all_numbers", c.countdown_use_all_numbers}}},
      {"run", {{"out", c.out_dir}, {"steps", c.steps}, {"seed", c.seed}, {"save_every", c.save_every},
               {"keep_checkpoints", c.keep_checkpoints}, {"progress", c.progress}}},
  };
}

}  // namespace illume::train

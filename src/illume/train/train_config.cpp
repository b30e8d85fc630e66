#include "illume/train/train_config.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "illume/rl/advantage.h"
#include "illume/util/error.h"

namespace illume::train {

namespace {

// The task names of data/tasks.h ("countdown, gsm8k, ...").
std::vector<std::string> task_name_list() {
  std::vector<std::string> names;
  std::string all = data::task_names();
  for (size_t start = 0; start < all.size();) {
    size_t comma = all.find(',', start);
    names.push_back(all.substr(start, comma - start));
    start = comma == std::string::npos ? all.size() : all.find_first_not_of(' ', comma + 1);
  }
  return names;
}

// eval.*: defaults from data.task and rollout.max_response_tokens (read before); `illume eval`'s
// rules (k > 1 needs a temperature), each failure naming its key.
void read_eval_section(ConfigReader& eval, TrainConfig& c) {
  auto& e = c.eval;
  e.every = eval.get_int("every", e.every);
  e.task = data::parse_task(eval.get_choice("task", data::task_name(c.data.task), task_name_list()));
  e.data = eval.get_path("data", e.data);
  e.k = eval.get_int("k", e.k);
  e.temperature = eval.get_double("temperature", e.temperature);
  e.limit = eval.get_int("limit", e.limit);
  e.max_new_tokens = eval.get_int("max_new_tokens", c.max_response_tokens);
  eval.finish();
  if (e.every < 0) eval.invalid("every", fmt::format("must be >= 0 (0 = off), got {}", e.every));
  if (e.k < 1) eval.invalid("k", fmt::format("must be >= 1, got {}", e.k));
  if (e.temperature < 0) eval.invalid("temperature", fmt::format("must be >= 0 (0 = greedy), got {}", e.temperature));
  if (e.k > 1 && e.temperature <= 0)
    eval.invalid("k", fmt::format("is {}, which needs eval.temperature > 0 (greedy decoding gives one answer per problem)", e.k));
  if (e.limit < 0) eval.invalid("limit", fmt::format("must be >= 0 (0 = all), got {}", e.limit));
  if (e.max_new_tokens < 1) eval.invalid("max_new_tokens", fmt::format("must be >= 1, got {}", e.max_new_tokens));
  if (e.enabled() && e.data.empty())
    fail("{}: missing key 'eval.data' (eval.every is {}: the held-out problems to evaluate on)", eval.origin("every"),
         e.every);
}

// "layer:head" strings: a list of them, or one string with commas ("12:3,15:0", handy in an override).
std::vector<HeadId> read_head_list(ConfigReader& att, const std::string& key) {
  const Json value = att.get_json(key);
  const std::string expected = "should be a list of \"layer:head\" strings, e.g. [\"12:3\", \"15:0\"]";
  std::vector<Json> items;
  if (value.is_null()) return {};
  if (value.is_string()) items.push_back(value);
  else if (value.is_array()) items.assign(value.begin(), value.end());
  else att.invalid(key, fmt::format("{}, got {}", expected, value.dump()));
  std::vector<HeadId> heads;
  for (const auto& item : items) {
    if (!item.is_string()) att.invalid(key, fmt::format("{}, got {}", expected, item.dump()));
    try {
      for (const auto& h : parse_head_list(item.get<std::string>())) heads.push_back(h);
    } catch (const Error& e) {
      att.invalid(key, e.what());
    }
  }
  return heads;
}

// The attention section, every value checked here, naming its key: a bad horizon or head list fails
// before any model loads, not after the first rollout. What needs the model (layers and heads within
// its size) is checked when the trainer starts (attention_pass.h attention_stats_config).
void read_attention_section(ConfigReader& att, TrainConfig& c) {
  auto whole = [&](const std::string& key, double v) {
    if (v != std::floor(v) || std::abs(v) > 1e9) att.invalid(key, fmt::format("must hold whole numbers, got {}", v));
    return static_cast<std::int64_t>(v);
  };
  c.window = att.get_int("window", c.window);
  if (c.window < 1 || c.window > kMaxAttentionWindow)
    att.invalid("window", fmt::format("must be in [1, {}], got {}", kMaxAttentionWindow, c.window));
  auto horizon = att.get_double_list("horizon", {double(c.fai_horizon_lo), double(c.fai_horizon_hi)});
  if (horizon.size() != 2) att.invalid("horizon", "must be [H_lo, H_hi]");
  c.fai_horizon_lo = whole("horizon", horizon[0]);
  c.fai_horizon_hi = whole("horizon", horizon[1]);
  if (c.fai_horizon_lo < 0 || c.fai_horizon_hi < c.fai_horizon_lo)
    att.invalid("horizon", fmt::format("must satisfy 0 <= H_lo <= H_hi, got [{}, {}]", c.fai_horizon_lo, c.fai_horizon_hi));
  for (double v : att.get_double_list("layers", {})) {
    const auto layer = whole("layers", v);
    if (layer < 0) att.invalid("layers", fmt::format("must be 0-based layer indices, got {}", layer));
    if (std::find(c.attention_layers.begin(), c.attention_layers.end(), layer) != c.attention_layers.end())
      att.invalid("layers", fmt::format("lists layer {} twice", layer));
    c.attention_layers.push_back(static_cast<int>(layer));
  }
  c.head_quantile = att.get_double("head_quantile", c.head_quantile);
  if (!(c.head_quantile > 0 && c.head_quantile <= 0.5))
    att.invalid("head_quantile", fmt::format("must be in (0, 0.5], got {}", c.head_quantile));
  c.attention_grouping = att.get_enum("grouping", c.attention_grouping,
                                      {{"sequence", HeadGroupingScope::per_sequence},
                                       {"batch", HeadGroupingScope::per_batch},
                                       {"fixed", HeadGroupingScope::fixed}});
  c.local_heads = read_head_list(att, "local_heads");
  c.global_heads = read_head_list(att, "global_heads");
  c.all_heads = att.get_bool("all_heads", c.all_heads);
  const bool fixed = c.attention_grouping == HeadGroupingScope::fixed;
  if (fixed && (c.local_heads.empty() || c.global_heads.empty()))
    att.invalid("grouping", "fixed needs both attention.local_heads and attention.global_heads");
  for (const auto* key : {"local_heads", "global_heads"}) {
    const auto& list = std::string(key) == "local_heads" ? c.local_heads : c.global_heads;
    if (!fixed && !list.empty())
      att.invalid(key, fmt::format("applies to attention.grouping fixed only (grouping is '{}')",
                                   grouping_name(c.attention_grouping)));
    if (c.attention_layers.empty()) continue;  // the default layers are known with the model
    for (const auto& h : list)
      if (std::find(c.attention_layers.begin(), c.attention_layers.end(), h.layer) == c.attention_layers.end())
        att.invalid(key, fmt::format("head {} is not in attention.layers", head_name(h)));
  }
  if (c.all_heads && fixed)
    att.invalid("all_heads", "averages every head of the layers; it excludes attention.grouping fixed");
}

}  // namespace

TrainConfig read_train_config(const ConfigTree& tree) {
  TrainConfig c;
  auto top = recipe_reader(tree);
  auto model = top.section("model"), data = top.section("data"), rollout = top.section("rollout"),
       optim = top.section("optim"), adv = top.section("advantage"), loss = top.section("loss"),
       credit = top.section("credit"), att = top.section("attention"), reward = top.section("reward"),
       run = top.section("run");
  auto eval = top.section("eval");
  // Unknown sections first (and in each section, unknown keys before missing ones): a key of an
  // older recipe is reported where it went, not as a missing key of the new one.
  top.finish();

  read_model_section(model, c.model);
  model.finish();
  model.require("dir");

  read_data_section(data, c.data);
  c.data.task = data::parse_task(data.get_choice("task", data::task_name(c.data.task), task_name_list()));
  c.data.shuffle = data.get_bool("shuffle", c.data.shuffle);
  data.finish();
  data.require("task");
  data.require("path");

  c.group_size = rollout.get_int("group_size", c.group_size);
  c.temperature = rollout.get_double("temperature", c.temperature);
  c.top_p = rollout.get_double("top_p", c.top_p);
  c.max_response_tokens = rollout.get_int("max_response_tokens", c.max_response_tokens);
  c.max_batch_rows = rollout.get_int("max_batch_rows", c.max_batch_rows);
  c.logprobs_from_sampler = rollout.get_bool("logprobs_from_sampler", c.logprobs_from_sampler);
  rollout.finish();

  read_optim_section(optim, c.optim);
  c.optim.batch_size = optim.get_int("batch_size", c.optim.batch_size);
  c.optim.micro_batch_size = optim.get_int("micro_batch_size", c.optim.micro_batch_size);
  c.optim.group_by_length = optim.get_bool("group_by_length", c.optim.group_by_length);
  optim.finish();

  c.adv_eps = adv.get_double("eps", c.adv_eps);
  c.scale_by_std = adv.get_bool("scale_by_std", c.scale_by_std);
  c.dynamic_sampling = adv.get_bool("dynamic_sampling", c.dynamic_sampling);
  adv.finish();

  c.loss.clip_low = loss.get_double("clip_low", c.loss.clip_low);
  c.loss.clip_high = loss.get_double("clip_high", c.loss.clip_high);
  c.loss.aggregation = loss.get_choice("aggregation", c.loss.aggregation, loss_aggregation_names());
  c.loss.kl_coef = loss.get_double("kl_coef", c.loss.kl_coef);
  c.loss.norm_length = loss.get_double("norm_length", c.loss.norm_length);
  loss.finish();

  c.credit.strategy = credit.get_choice("strategy", c.credit.strategy, credit_strategy_names());
  c.credit.select = credit.get_choice("select", c.credit.select, {"top", "bottom"});
  c.credit.q = credit.get_double("q", c.credit.q);
  c.credit.gamma_amp = credit.get_double("gamma_amp", c.credit.gamma_amp);
  c.credit.k = static_cast<int>(credit.get_int("k", c.credit.k));
  c.credit.alpha = credit.get_double("alpha", c.credit.alpha);
  // Absent or null: the per-response median.
  auto threshold = [&](const std::string& key) -> std::optional<double> {
    if (!credit.has(key)) {
      credit.get_json(key);  // a null is read, not unknown
      return std::nullopt;
    }
    return credit.get_double(key, 0);
  };
  c.credit.tau_waad = threshold("tau_waad");
  c.credit.tau_delta = threshold("tau_delta");
  c.sign = credit.get_choice("sign", c.sign, advantage_sign_modes());
  credit.finish();

  read_attention_section(att, c);
  att.finish();

  c.countdown.rule = reward.get_enum("countdown_rule", c.countdown.rule,
                                     {{"tinyzero", illume::reward::CountdownRule::TinyZero}, {"lenient", illume::reward::CountdownRule::Lenient}});
  if (reward.has("countdown_format_reward")) {
    c.countdown.format_reward = reward.get_double("countdown_format_reward", 0.0);
    if (!(*c.countdown.format_reward >= 0 && *c.countdown.format_reward <= 1))
      reward.invalid("countdown_format_reward", "must be in [0, 1]");
  }
  c.countdown.use_all_numbers = reward.get_bool("countdown_use_all_numbers", c.countdown.use_all_numbers);
  if (c.countdown.use_all_numbers && c.countdown.rule == illume::reward::CountdownRule::TinyZero)
    reward.invalid("countdown_use_all_numbers", "applies to countdown_rule lenient only (TinyZero's rule always uses every number)");
  reward.finish();

  read_run_section(run, c.run);
  c.run.log_samples = run.get_int("log_samples", c.run.log_samples);
  if (c.run.log_samples < 0 || c.run.log_samples > 1000)
    run.invalid("log_samples", fmt::format("must be in [0, 1000] (responses per step; 0 = none), got {}", c.run.log_samples));
  run.finish();
  run.require("out");

  read_eval_section(eval, c);

  // Values that are well-typed but out of range, named by where they were set.
  auto positive = [&](const std::string& key, double v) {
    if (!(v > 0)) fail("{}: key '{}' must be positive, got {}", top.origin(key), key, v);
  };
  positive("rollout.group_size", double(c.group_size));
  positive("rollout.max_response_tokens", double(c.max_response_tokens));
  positive("optim.batch_size", double(c.optim.batch_size));
  positive("optim.micro_batch_size", double(c.optim.micro_batch_size));
  positive("rollout.temperature", c.temperature);  // GRPO samples
  if (c.optim.batch_size % c.group_size != 0)
    fail("{}: key 'optim.batch_size' ({}) must be a multiple of rollout.group_size ({})", top.origin("optim.batch_size"),
         c.optim.batch_size, c.group_size);
  auto in_range = [&](const std::string& key, double v, double lo, double hi, const char* range) {
    if (!(v >= lo && v <= hi)) fail("{}: key '{}' must be in {}, got {}", top.origin(key), key, range, v);
  };
  in_range("rollout.top_p", c.top_p, 1e-12, 1.0, "(0, 1]");
  positive("rollout.max_batch_rows", double(c.max_batch_rows));
  positive("advantage.eps", c.adv_eps);
  in_range("loss.clip_low", c.loss.clip_low, 0.0, 1.0, "[0, 1]");
  in_range("loss.clip_high", c.loss.clip_high, 0.0, 1e9, "[0, inf)");
  in_range("loss.kl_coef", c.loss.kl_coef, 0.0, 1e9, "[0, inf)");
  in_range("loss.norm_length", c.loss.norm_length, 0.0, 1e12, "[0, inf) (0: rollout.max_response_tokens)");
  in_range("credit.gamma_amp", c.credit.gamma_amp, 0.0, 1e6, "[0, inf)");
  if (c.optim.micro_batch_size > c.optim.batch_size)
    fail("{}: key 'optim.micro_batch_size' ({}) must be at most optim.batch_size ({})",
         top.origin("optim.micro_batch_size"), c.optim.micro_batch_size, c.optim.batch_size);
  if (c.credit.q <= 0 || c.credit.q > 1) fail("{}: key 'credit.q' must be in (0, 1], got {}", top.origin("credit.q"), c.credit.q);
  if (c.credit.k < 1) fail("{}: key 'credit.k' must be >= 1", top.origin("credit.k"));
  if (c.credit.alpha < 0 || c.credit.alpha > 1) fail("{}: key 'credit.alpha' must be in [0, 1]", top.origin("credit.alpha"));
  if (c.loss.aggregation == "seq-mean-token-sum-norm" && c.loss.norm_length <= 0)
    c.loss.norm_length = static_cast<double>(c.max_response_tokens);
  return c;
}

TrainConfig load_train_config(const std::filesystem::path& yaml, const std::vector<std::string>& overrides) {
  return read_train_config(load_recipe(yaml, overrides));
}

TrainConfig train_config_from_json(const Json& root, const std::string& source) {
  return read_train_config(config_tree(root, source));
}

Json train_config_to_json(const TrainConfig& c) {
  Json tau_waad = c.credit.tau_waad ? Json(*c.credit.tau_waad) : Json(nullptr);
  Json tau_delta = c.credit.tau_delta ? Json(*c.credit.tau_delta) : Json(nullptr);
  Json data = section_json(static_cast<const DataSection&>(c.data));
  data["task"] = data::task_name(c.data.task);
  data["shuffle"] = c.data.shuffle;
  Json optim = section_json(static_cast<const OptimSection&>(c.optim));
  optim["batch_size"] = c.optim.batch_size;
  optim["micro_batch_size"] = c.optim.micro_batch_size;
  optim["group_by_length"] = c.optim.group_by_length;
  Json local_heads = Json::array(), global_heads = Json::array();
  for (const auto& h : c.local_heads) local_heads.push_back(head_name(h));
  for (const auto& h : c.global_heads) global_heads.push_back(head_name(h));
  Json attention = {{"window", c.window}, {"horizon", {c.fai_horizon_lo, c.fai_horizon_hi}}, {"layers", c.attention_layers},
                    {"head_quantile", c.head_quantile}, {"grouping", grouping_name(c.attention_grouping)},
                    {"local_heads", local_heads}, {"global_heads", global_heads}, {"all_heads", c.all_heads}};
  Json run = section_json(static_cast<const RunSection&>(c.run));
  run["log_samples"] = c.run.log_samples;
  return {
      {"model", section_json(c.model)},
      {"data", data},
      {"rollout", {{"group_size", c.group_size}, {"temperature", c.temperature}, {"top_p", c.top_p},
                   {"max_response_tokens", c.max_response_tokens}, {"max_batch_rows", c.max_batch_rows},
                   {"logprobs_from_sampler", c.logprobs_from_sampler}}},
      {"optim", optim},
      {"advantage", {{"eps", c.adv_eps}, {"scale_by_std", c.scale_by_std}, {"dynamic_sampling", c.dynamic_sampling}}},
      {"loss", {{"clip_low", c.loss.clip_low}, {"clip_high", c.loss.clip_high}, {"aggregation", c.loss.aggregation},
                {"kl_coef", c.loss.kl_coef}, {"norm_length", c.loss.norm_length}}},
      {"credit", {{"strategy", c.credit.strategy}, {"select", c.credit.select}, {"q", c.credit.q},
                  {"gamma_amp", c.credit.gamma_amp}, {"k", c.credit.k}, {"alpha", c.credit.alpha},
                  {"tau_waad", tau_waad}, {"tau_delta", tau_delta}, {"sign", c.sign}}},
      {"attention", attention},
      {"reward", {{"countdown_rule", illume::reward::countdown_rule_name(c.countdown.rule)},
                  {"countdown_format_reward", illume::reward::countdown_format_reward(c.countdown)},
                  {"countdown_use_all_numbers", c.countdown.use_all_numbers}}},
      {"run", run},
      {"eval", {{"every", c.eval.every}, {"task", data::task_name(c.eval.task)}, {"data", path_json(c.eval.data)},
                {"k", c.eval.k}, {"temperature", c.eval.temperature}, {"limit", c.eval.limit},
                {"max_new_tokens", c.eval.max_new_tokens}}},
  };
}

}  // namespace illume::train

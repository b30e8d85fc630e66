#include "illume/train/sft.h"
#include "illume/data/model_prompt_style.h"
#include "illume/train/run_folder.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "illume/data/tasks.h"
#include "illume/dist/dist.h"
#include "illume/eval/evaluate.h"
#include "illume/infer/generate.h"
#include "illume/model/device.h"
#include "illume/model/model.h"
#include "illume/text/chat.h"
#include "illume/text/tokenizer.h"
#include "illume/train/checkpoint.h"
#include "illume/train/run_log.h"
#include "illume/util/error.h"
#include "illume/util/interrupt.h"
#include "illume/util/file.h"
#include "illume/util/progress.h"
#include "illume/util/random.h"

namespace illume::train {

namespace fs = std::filesystem;

TokenSequence encode_example(const Tokenizer& tokenizer, const std::string& prompt, const std::string& response,
                             data::PromptStyle prompt_style) {
  TokenSequence e;
  std::int32_t end_id;
  if (prompt_style == data::PromptStyle::Chat) {
    e.ids = tokenizer.encode(format_chat({{"user", prompt}}, true, true), true, "sft prompt");
    auto id = tokenizer.token_to_id("<|im_end|>");
    if (!id) fail("sft: the tokenizer has no <|im_end|> token (needed by data.prompt_style: chat)");
    end_id = *id;
  } else {
    e.ids = tokenizer.encode(prompt, false, "sft prompt");
    auto id = tokenizer.eos_token_id();
    if (!id) fail("sft: the tokenizer has no EOS token (needed by data.prompt_style: plain)");
    end_id = *id;
  }
  e.prompt_length = static_cast<std::int64_t>(e.ids.size());
  auto r = tokenizer.encode(response, false, "sft response");
  e.ids.insert(e.ids.end(), r.begin(), r.end());
  e.ids.push_back(end_id);
  return e;
}

at::Tensor masked_lm_loss(const at::Tensor& logits, const at::Tensor& ids, const at::Tensor& loss_mask) {
  auto T = logits.size(1);
  auto V = logits.size(2);
  auto pred = logits.slice(1, 0, T - 1).reshape({-1, V});
  auto target = ids.slice(1, 1, T).reshape({-1});
  auto weight = loss_mask.slice(1, 1, T).reshape({-1}).to(logits.scalar_type());
  auto nll = torch::nn::functional::cross_entropy(
      pred, target, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  return (nll * weight).sum() / weight.sum().clamp_min(1.0);
}

LrSchedule lr_schedule(const SftConfig& c) {
  return LrSchedule::warmup_cosine(c.optim.lr, c.optim.warmup_steps, c.run.steps, c.optim.min_lr_ratio);
}

AccuracyResult countdown_accuracy(const Model& model, const Tokenizer& tokenizer, const fs::path& file,
                                  std::int64_t n, std::int64_t max_new_tokens, bool show_progress) {
  eval::EvalOptions o;
  o.chat = true;
  o.limit = n;
  o.max_new_tokens = max_new_tokens;
  o.prompts_per_batch = 128;
  o.show_progress = show_progress;
  auto result = eval::evaluate(model, tokenizer, data::Task::Countdown, data::load_problems(data::Task::Countdown, file), o);
  AccuracyResult r;
  r.n = result.summary["problems"].get<std::int64_t>();
  r.accuracy = result.summary["pass@1"].get<double>();
  r.mean_response_tokens = result.summary["response_length_mean"].get<double>();
  return r;
}

namespace {

// The optimiser of an SFT recipe: optim.lr, betas, adam_eps, weight_decay.
AdamWOptions adamw_options(const SftConfig& c) {
  return {c.optim.lr, c.optim.beta1, c.optim.beta2, c.optim.adam_eps, c.optim.weight_decay};
}

struct Examples {
  std::vector<TokenSequence> train, eval;
  std::int64_t dropped = 0;
};

Examples load_examples(const SftConfig& c, const Tokenizer& tokenizer) {
  std::vector<std::pair<std::string, std::string>> pairs;
  if (!c.data.path.empty()) {
    auto rows = read_jsonl_file(c.data.path);
    if (c.data.limit > 0 && static_cast<std::int64_t>(rows.size()) > c.data.limit)
      rows.resize(static_cast<std::size_t>(c.data.limit));
    for (std::size_t i = 0; i < rows.size(); ++i) {
      std::string source = fmt::format("{}: row {}", c.data.path.string(), i + 1);
      auto response = json_get<std::string>(rows[i], "response", source);
      if (rows[i].contains("prompt")) {
        pairs.emplace_back(json_get<std::string>(rows[i], "prompt", source), response);
      } else {
        auto p = data::problem_from_json(data::Task::Countdown, rows[i], source, i);
        pairs.emplace_back(data::build_prompt(data::Task::Countdown, p, data::PromptStyle::Chat), response);
      }
    }
    if (pairs.empty()) fail("{}: no examples", c.data.path.string());
  } else {
    Progress progress("sft: generating puzzles", c.data.generate_n, "puzzle");
    for (std::int64_t i = 0; i < c.data.generate_n; ++i) {
      auto puzzle = data::generate_countdown(c.data.generate_seed, static_cast<std::uint64_t>(i), c.data.generate_options);
      data::Problem p;
      p.nums = puzzle.nums;
      p.target = puzzle.target;
      pairs.emplace_back(data::build_prompt(data::Task::Countdown, p, data::PromptStyle::Chat), puzzle.response);
      progress.advance();
    }
    progress.finish();
  }
  if (static_cast<std::int64_t>(pairs.size()) <= c.data.eval_size)
    fail("sft: {} examples, but data.eval_size is {} (nothing left to train on)", pairs.size(), c.data.eval_size);
  Examples ex;
  std::size_t n_train = pairs.size() - static_cast<std::size_t>(c.data.eval_size);
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    auto e = encode_example(tokenizer, pairs[i].first, pairs[i].second, c.data.prompt_style);
    if (static_cast<std::int64_t>(e.ids.size()) > c.data.max_length) {
      ++ex.dropped;
      continue;
    }
    (i < n_train ? ex.train : ex.eval).push_back(std::move(e));
  }
  if (ex.train.empty()) fail("sft: every training example is longer than data.max_length {}", c.data.max_length);
  return ex;
}

double eval_loss(const Model& model, const std::vector<TokenSequence>& eval, std::int64_t batch_size, std::int32_t pad) {
  if (eval.empty()) return std::nan("");
  torch::NoGradGuard no_grad;
  double total = 0, count = 0;
  for (std::size_t i = 0; i < eval.size(); i += static_cast<std::size_t>(batch_size)) {
    std::vector<const TokenSequence*> part;
    for (std::size_t j = i; j < std::min(eval.size(), i + static_cast<std::size_t>(batch_size)); ++j) part.push_back(&eval[j]);
    auto b = pack_batch(part, pad);
    auto loss = masked_lm_loss(model.forward(b.ids, b.mask), b.ids, b.loss_mask);
    total += loss.item<double>() * b.target_tokens;
    count += b.target_tokens;
  }
  return total / std::max(count, 1.0);
}

// The model before step 1: an HF folder (model.dir), or random weights of model.config's shape.
Model initial_model(const SftConfig& c, const Tokenizer& tokenizer) {
  if (!c.model.dir.empty()) return Model::load(c.model.dir);
  Json cfg = c.model.config;
  if (!cfg.contains("vocab_size")) cfg["vocab_size"] = tokenizer.vocab_size();
  if (!cfg.contains("eos_token_id") && tokenizer.eos_token_id()) cfg["eos_token_id"] = *tokenizer.eos_token_id();
  auto config = ModelConfig::from_json(cfg, "sft config: model");
  if (config.vocab_size < tokenizer.vocab_size())
    fail("sft config: model.vocab_size {} is smaller than the tokenizer's {}", config.vocab_size, tokenizer.vocab_size());
  return Model::random(config, c.run.seed);
}

}  // namespace

fs::path run_sft(const SftConfig& c, bool resume, std::optional<std::int64_t> stop_after) {
  init_torch_runtime();  // first, so that the recipe's thread count is not reset by the model loader
  if (c.run.threads > 0) torch::set_num_threads(c.run.threads);
  torch::manual_seed(c.run.seed);
  const fs::path tokenizer_dir = !c.model.tokenizer.empty() ? c.model.tokenizer : c.model.dir;
  if (tokenizer_dir.empty()) fail("sft: give model.tokenizer (a folder with tokenizer.json) or model.dir");
  auto tokenizer = Tokenizer::from_dir(tokenizer_dir);
  const auto pad = tokenizer.pad_token_id().value_or(tokenizer.eos_token_id().value_or(0));
  // Several ranks (dist/dist.h): each takes an equal slice of every step's examples; gradients and the
  // loss are summed over the ranks so that every step equals one process's step on the whole batch.
  // Rank 0 writes the run's files and evaluates; the others train and write nothing.
  const bool main = dist::is_main();
  const std::int64_t world = dist::world_size();
  if (c.optim.batch_size % world != 0)
    fail("sft: optim.batch_size {} is not a multiple of the {} ranks", c.optim.batch_size, world);
  const std::int64_t local_batch = c.optim.batch_size / world, first_example = local_batch * dist::rank();
  if (main) ensure_directory(c.run.out);

  const auto resume_from = resume ? newest_checkpoint(c.run.out) : std::nullopt;
  if (!resume && !list_checkpoints(c.run.out).empty())
    fail("{}: has checkpoints already; pass --resume to continue, --overwrite to start over, or choose another run.out",
         c.run.out.string());
  Model model = resume_from ? Model::load(*resume_from) : initial_model(c, tokenizer);
  model.set_requires_grad(true);
  AdamW optimizer(model.weights().named_tensors(model.config()), adamw_options(c));
  if (dist::active()) {  // every rank starts from rank 0's weights (the same files or seed; this makes sure)
    auto parameters = optimizer.parameters();
    dist::broadcast(parameters);
  }
  TrainerState state;
  state.trainer = TrainerKind::Sft;
  state.seed = c.run.seed;
  std::int64_t tokens_seen = 0;
  if (resume_from) {
    const auto saved = read_trainer_state(*resume_from);
    state.step = saved.step;
    const auto state_file = (*resume_from / "trainer_state.json").string();
    if (saved.trainer == TrainerKind::Sft) {
      tokens_seen = json_get_or<std::int64_t>(saved.details, "tokens_seen", 0, state_file);
      // The example order and batches follow from these; other keys (lr, steps, ...) may change.
      if (saved.details.contains("config"))
        for (const auto& change : compare_resumed_config(saved.details["config"], sft_config_to_json(c),
                                                         {"run.seed", "optim.batch_size", "data"}, state_file))
          std::fprintf(stderr, "sft: resuming with a changed setting: %s\n", change.c_str());
    }
    const auto note = load_optimizer_state(optimizer, *resume_from);
    // Another world size resumes correctly (examples are counted globally), with other slices per rank.
    const auto saved_world = saved.details.value("world_size", 1);
    if (saved_world != world && main)
      std::fprintf(stderr, "sft: warning: the checkpoint was written by %d rank(s), this run has %lld; continuing\n",
                   saved_world, static_cast<long long>(world));
    std::fprintf(stderr, "sft: resuming from %s (%s checkpoint, step %lld): %s\n", resume_from->string().c_str(),
                 trainer_kind_name(saved.trainer), static_cast<long long>(state.step), note.c_str());
  }
  std::fprintf(stderr, "sft: %lld parameters, %s\n", static_cast<long long>(model.config().parameter_count()),
               architecture_name(model.config().architecture));

  auto examples = load_examples(c, tokenizer);
  std::fprintf(stderr, "sft: %zu training examples, %zu held out, %lld dropped (longer than %lld tokens)\n",
               examples.train.size(), examples.eval.size(), static_cast<long long>(examples.dropped),
               static_cast<long long>(c.data.max_length));

  auto save = [&] {
    if (!main) return;  // every rank holds the same weights and optimiser state
    state.data_position = state.step * c.optim.batch_size;
    state.details = {{"tokens_seen", tokens_seen}, {"config", sft_config_to_json(c)}, {"world_size", world}};
    save_checkpoint(c.run.out, model, optimizer, tokenizer_dir, state, c.run.keep_checkpoints);
  };
  auto evaluate = [&](Json& row) {
    model.set_requires_grad(false);
    row["eval_loss"] = eval_loss(model, examples.eval, c.optim.batch_size, pad);
    if (c.accuracy.n > 0) {
      auto acc = countdown_accuracy(model, tokenizer, c.accuracy.path, c.accuracy.n, c.accuracy.max_new_tokens, false);
      row["eval/accuracy"] = acc.accuracy;  // greedy, on the first accuracy.n puzzles of accuracy.path
      row["eval/mean_length"] = acc.mean_response_tokens;
    }
    model.set_requires_grad(true);
    std::fprintf(stderr, "\nsft: step %lld %s\n", row["step"].get<long long>(), row.dump().c_str());
  };

  std::optional<RunLog> metrics;
  if (main)
    metrics.emplace(c.run.out / "metrics.jsonl", resume_from ? std::optional<std::int64_t>(state.step) : std::nullopt,
                    c.run.tensorboard);
  EpochOrder order(examples.train.size(), c.run.seed);
  const auto schedule = lr_schedule(c);
  const auto start_step = state.step;
  Progress progress("sft", c.run.steps, "step", c.run.progress && main);
  progress.resume_from(start_step);
  double time_train = 0;  // seconds of training steps since the last logged row
  std::int64_t steps_timed = 0;
  InterruptGuard interrupt;
  for (std::int64_t step = start_step; step < c.run.steps; ++step) {
    if (stop_after && step - start_step == *stop_after) {
      progress.finish();
      return {};
    }
    if (dist::any(InterruptGuard::requested())) {  // every rank stops at the same step
      progress.finish();
      throw Interrupted(fmt::format("sft: interrupted at step {}; {}", step, last_checkpoint_note(c.run.out)));
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<const TokenSequence*> part;
    for (std::int64_t j = first_example; j < first_example + local_batch; ++j)
      part.push_back(&examples.train[order.at(static_cast<std::uint64_t>(step * c.optim.batch_size + j))]);
    const auto batch = pack_batch(part, pad);
    optimizer.zero_grad();
    auto loss = masked_lm_loss(model.forward(batch.ids, batch.mask), batch.ids, batch.loss_mask);
    // Padded tokens of the whole batch, as one process would count them: every row padded to the longest.
    std::int64_t batch_tokens = batch.ids.numel();
    if (dist::active()) {
      // The loss is a mean over this rank's target tokens; rescaled to the whole batch's, the ranks'
      // losses (and gradients) sum to one process's.
      std::vector<double> counts{batch.loss_mask.slice(1, 1).sum().item<double>()};
      const double local_tokens = counts[0];
      dist::all_reduce_sum(counts);
      loss = loss * (local_tokens / std::max(counts[0], 1.0));
      std::vector<double> longest{static_cast<double>(batch.ids.size(1))};
      dist::all_reduce_max(longest);
      batch_tokens = c.optim.batch_size * static_cast<std::int64_t>(longest[0]);
    }
    loss.backward();
    dist::all_reduce_gradients(optimizer.parameters());
    const double lr = schedule.at(step);
    const double grad_norm = clip_grad_norm(optimizer.parameters(), c.optim.grad_clip);
    std::vector<double> loss_sum{loss.item<double>()};
    dist::all_reduce_sum(loss_sum);
    const double loss_value = loss_sum[0];
    // Checked before the update: a non-finite step would turn every weight into NaN. The checkpoints on
    // disk are from earlier steps and stay as they are.
    if (!std::isfinite(loss_value) || !std::isfinite(grad_norm))
      fail("sft: the {} is not finite at step {} ({}); stopped before updating; {}; try a lower optim.lr",
           std::isfinite(loss_value) ? "gradient norm" : "loss", step + 1,
           std::isfinite(loss_value) ? grad_norm : loss_value, last_checkpoint_note(c.run.out));
    optimizer.step(lr);
    time_train += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++steps_timed;
    tokens_seen += batch_tokens;
    state.step = step + 1;
    const bool last = state.step == c.run.steps;
    const bool log = state.step % std::max<std::int64_t>(c.run.log_every, 1) == 0 || last;
    const bool eval = c.run.eval_every > 0 && (state.step % c.run.eval_every == 0 || last);
    if (log || eval) {
      // TRL's SFTTrainer names (docs/metrics.md).
      Json row = {{"step", state.step}, {"loss", loss_value}, {"learning_rate", lr}, {"grad_norm", grad_norm},
                  {"num_tokens", tokens_seen}, {"timing/update", time_train / static_cast<double>(steps_timed)}};
      time_train = 0;
      steps_timed = 0;
      if (eval && main) evaluate(row);
      if (metrics) metrics->append(row);
    }
    if (c.run.save_every > 0 && state.step % c.run.save_every == 0 && !last) save();
    progress.advance(1, fmt::format("loss {:.3f} lr {:.2e}", loss_value, lr));
  }
  progress.finish();
  if (start_step < c.run.steps) save();
  model.set_requires_grad(false);
  if (!main) return c.run.out / "final";
  const auto final_dir = c.run.out / "final";
  save_model_folder(final_dir, model, c.run.export_dtype, tokenizer_dir);
  // The prompt format the model learned, so that eval and friends default to it.
  data::record_prompt_style(final_dir, c.data.prompt_style);
  if (!c.run.export_dir.empty()) {
    save_model_folder(c.run.export_dir, model, c.run.export_dtype, tokenizer_dir);
    data::record_prompt_style(c.run.export_dir, c.data.prompt_style);
    std::fprintf(stderr, "sft: exported %s\n", c.run.export_dir.string().c_str());
  }
  return final_dir;
}

}  // namespace illume::train


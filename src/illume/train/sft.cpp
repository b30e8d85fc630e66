#include "illume/train/sft.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include "illume/data/tasks.h"
#include "illume/eval/evaluate.h"
#include "illume/infer/generate.h"
#include "illume/io/safetensors.h"
#include "illume/io/safetensors_torch.h"
#include "illume/model/device.h"
#include "illume/model/model.h"
#include "illume/text/chat.h"
#include "illume/text/tokenizer.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/progress.h"

namespace illume::train {

namespace fs = std::filesystem;

SftExample encode_example(const Tokenizer& tokenizer, const std::string& prompt, const std::string& response,
                          data::PromptStyle prompt_style) {
  SftExample e;
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

SftBatch make_batch(const std::vector<const SftExample*>& examples, std::int32_t pad_id) {
  std::int64_t B = static_cast<std::int64_t>(examples.size()), T = 0;
  for (auto* e : examples) T = std::max<std::int64_t>(T, static_cast<std::int64_t>(e->ids.size()));
  auto ids = torch::full({B, T}, static_cast<std::int64_t>(pad_id), torch::kInt64);
  auto mask = torch::zeros({B, T}, torch::kInt64);
  auto loss_mask = torch::zeros({B, T}, torch::kFloat);
  auto ia = ids.accessor<std::int64_t, 2>();
  auto ma = mask.accessor<std::int64_t, 2>();
  auto la = loss_mask.accessor<float, 2>();
  SftBatch batch;
  for (std::int64_t b = 0; b < B; ++b) {
    const auto& e = *examples[b];
    for (std::size_t t = 0; t < e.ids.size(); ++t) {
      ia[b][t] = e.ids[t];
      ma[b][t] = 1;
      if (static_cast<std::int64_t>(t) >= e.prompt_length && t > 0) {
        la[b][t] = 1;
        ++batch.target_tokens;
      }
    }
  }
  batch.ids = ids;
  batch.mask = mask;
  batch.loss_mask = loss_mask;
  return batch;
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

double lr_at(const SftConfig& c, std::int64_t step) {
  const auto& o = c.optim;
  if (o.warmup_steps > 0 && step < o.warmup_steps) return o.lr * static_cast<double>(step + 1) / o.warmup_steps;
  double span = std::max<double>(1.0, static_cast<double>(c.run.steps - o.warmup_steps));
  double progress = std::clamp((step - o.warmup_steps) / span, 0.0, 1.0);
  double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return o.lr * (o.min_lr_ratio + (1.0 - o.min_lr_ratio) * cosine);
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

struct Examples {
  std::vector<SftExample> train, eval;
  std::int64_t dropped = 0;
};

Examples load_examples(const SftConfig& c, const Tokenizer& tokenizer) {
  std::vector<std::pair<std::string, std::string>> pairs;
  if (!c.data.path.empty()) {
    auto rows = read_jsonl_file(c.data.path);
    if (c.data.limit > 0 && static_cast<std::int64_t>(rows.size()) > c.data.limit) rows.resize(static_cast<std::size_t>(c.data.limit));
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

// Which example fills slot j of the batch of `step`: epoch-wise permutations seeded by (seed, epoch).
class Sampler {
 public:
  Sampler(std::size_t n, std::uint64_t seed) : n_(n), seed_(seed) {}
  std::size_t at(std::int64_t global) {
    auto epoch = static_cast<std::uint64_t>(global) / n_;
    if (epoch != epoch_ || perm_.empty()) {
      perm_.resize(n_);
      for (std::size_t i = 0; i < n_; ++i) perm_[i] = i;
      std::mt19937_64 rng(seed_ * 1000003ull + epoch);
      std::shuffle(perm_.begin(), perm_.end(), rng);
      epoch_ = epoch;
    }
    return perm_[static_cast<std::uint64_t>(global) % n_];
  }

 private:
  std::size_t n_;
  std::uint64_t seed_, epoch_ = 0;
  std::vector<std::size_t> perm_;
};

double eval_loss(const Model& model, const std::vector<SftExample>& eval, std::int64_t batch_size, std::int32_t pad) {
  if (eval.empty()) return std::nan("");
  torch::NoGradGuard no_grad;
  double total = 0, count = 0;
  for (std::size_t i = 0; i < eval.size(); i += static_cast<std::size_t>(batch_size)) {
    std::vector<const SftExample*> part;
    for (std::size_t j = i; j < std::min(eval.size(), i + static_cast<std::size_t>(batch_size)); ++j) part.push_back(&eval[j]);
    auto b = make_batch(part, pad);
    auto loss = masked_lm_loss(model.forward(b.ids, b.mask), b.ids, b.loss_mask);
    total += loss.item<double>() * b.target_tokens;
    count += b.target_tokens;
  }
  return total / std::max(count, 1.0);
}

void copy_tokenizer_files(const fs::path& from, const fs::path& to) {
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"})
    if (fs::exists(from / name)) write_file_atomic(to / name, read_file(from / name));
}

// Writes a folder via DIR.tmp then rename; removes an older DIR first.
template <typename Fn>
void write_dir_atomic(const fs::path& dir, Fn&& fill) {
  auto tmp = dir;
  tmp += ".tmp";
  fs::remove_all(tmp);
  ensure_directory(tmp);
  fill(tmp);
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::rename(tmp, dir, ec);
  if (ec) fail("{}: cannot rename to {} ({})", tmp.string(), dir.string(), ec.message());
}

std::optional<std::pair<std::int64_t, fs::path>> newest_checkpoint(const fs::path& out) {
  std::optional<std::pair<std::int64_t, fs::path>> best;
  if (!fs::exists(out)) return best;
  for (auto& entry : fs::directory_iterator(out)) {
    auto name = entry.path().filename().string();
    if (name.rfind("checkpoint-", 0) != 0 || name.size() <= 11 || name.find(".tmp") != std::string::npos) continue;
    std::int64_t step = std::atoll(name.c_str() + 11);
    if (!fs::exists(entry.path() / "trainer_state.json")) continue;
    if (!best || step > best->first) best = std::make_pair(step, entry.path());
  }
  return best;
}

}  // namespace

fs::path run_sft(const SftConfig& c, bool resume) {
  init_torch_runtime();  // first, so that the recipe's thread count is not reset by the model loader
  if (c.run.threads > 0) torch::set_num_threads(c.run.threads);
  torch::manual_seed(c.run.seed);
  const fs::path& tokenizer_dir = c.model.tokenizer;
  auto tokenizer = Tokenizer::from_dir(tokenizer_dir);
  auto pad = tokenizer.pad_token_id().value_or(tokenizer.eos_token_id().value_or(0));
  ensure_directory(c.run.out);

  std::int64_t start_step = 0;
  std::optional<Model> model_holder;
  auto resume_from = resume ? newest_checkpoint(c.run.out) : std::nullopt;
  if (resume_from) {
    model_holder.emplace(Model::load(resume_from->second));
    start_step = json_get<std::int64_t>(read_json_file(resume_from->second / "trainer_state.json"), "step",
                                        (resume_from->second / "trainer_state.json").string());
    std::fprintf(stderr, "sft: resuming from %s (step %lld)\n", resume_from->second.string().c_str(),
                 static_cast<long long>(start_step));
  } else if (!c.model.dir.empty()) {
    model_holder.emplace(Model::load(c.model.dir));
  } else {
    Json cfg = c.model.config;
    if (!cfg.contains("vocab_size")) cfg["vocab_size"] = tokenizer.vocab_size();
    if (!cfg.contains("eos_token_id") && tokenizer.eos_token_id()) cfg["eos_token_id"] = *tokenizer.eos_token_id();
    auto config = ModelConfig::from_json(cfg, "sft config: model");
    if (config.vocab_size < tokenizer.vocab_size())
      fail("sft config: model.vocab_size {} is smaller than the tokenizer's {}", config.vocab_size, tokenizer.vocab_size());
    model_holder.emplace(Model::random(config, c.run.seed));
  }
  Model& model = *model_holder;
  model.set_requires_grad(true);
  auto params = model.parameters();
  std::fprintf(stderr, "sft: %lld parameters, %s\n", static_cast<long long>(model.config().parameter_count()),
               architecture_name(model.config().architecture));

  auto examples = load_examples(c, tokenizer);
  std::fprintf(stderr, "sft: %zu training examples, %zu held out, %lld dropped (longer than %lld tokens)\n",
               examples.train.size(), examples.eval.size(), static_cast<long long>(examples.dropped),
               static_cast<long long>(c.data.max_length));

  // AdamW moments.
  std::vector<at::Tensor> m, v;
  for (auto& p : params) {
    m.push_back(torch::zeros_like(p).detach());
    v.push_back(torch::zeros_like(p).detach());
  }
  if (resume_from) {
    st::SafetensorsFile f(resume_from->second / "optimizer.safetensors");
    for (std::size_t i = 0; i < params.size(); ++i) {
      m[i].copy_(to_tensor(f, fmt::format("m.{}", i)));
      v[i].copy_(to_tensor(f, fmt::format("v.{}", i)));
    }
  }

  auto save_model_files = [&](const fs::path& dir, c10::ScalarType dtype) {
    model.save(dir, dtype);
    copy_tokenizer_files(tokenizer_dir, dir);
  };
  auto save_checkpoint = [&](std::int64_t step) {
    write_dir_atomic(c.run.out / fmt::format("checkpoint-{}", step), [&](const fs::path& dir) {
      save_model_files(dir, c10::kFloat);
      std::vector<std::pair<std::string, at::Tensor>> state;
      for (std::size_t i = 0; i < params.size(); ++i) {
        state.emplace_back(fmt::format("m.{}", i), m[i]);
        state.emplace_back(fmt::format("v.{}", i), v[i]);
      }
      save_safetensors(dir / "optimizer.safetensors", state);
      write_file_atomic(dir / "trainer_state.json", Json{{"step", step}, {"seed", c.run.seed}}.dump(2) + "\n");
    });
    // Keep the newest keep_checkpoints.
    std::vector<std::int64_t> steps;
    for (auto& entry : fs::directory_iterator(c.run.out)) {
      auto name = entry.path().filename().string();
      if (name.rfind("checkpoint-", 0) == 0 && name.find(".tmp") == std::string::npos)
        steps.push_back(std::atoll(name.c_str() + 11));
    }
    std::sort(steps.begin(), steps.end());
    for (std::size_t i = 0; i + static_cast<std::size_t>(std::max<std::int64_t>(c.run.keep_checkpoints, 1)) < steps.size(); ++i)
      fs::remove_all(c.run.out / fmt::format("checkpoint-{}", steps[i]));
  };

  JsonlWriter metrics(c.run.out / "metrics.jsonl", resume_from.has_value());
  Sampler sampler(examples.train.size(), c.run.seed);
  Progress progress("sft", c.run.steps, "step", c.run.progress);
  progress.set(start_step);
  double time_train = 0;
  std::int64_t tokens_seen = 0;
  auto evaluate = [&](std::int64_t step, Json& row) {
    model.set_requires_grad(false);
    row["eval_loss"] = eval_loss(model, examples.eval, c.optim.batch_size, pad);
    if (c.accuracy.n > 0) {
      auto acc = countdown_accuracy(model, tokenizer, c.accuracy.path, c.accuracy.n, c.accuracy.max_new_tokens, false);
      row["accuracy"] = acc.accuracy;
      row["response_length"] = acc.mean_response_tokens;
    }
    model.set_requires_grad(true);
    std::fprintf(stderr, "\nsft: step %lld %s\n", static_cast<long long>(step), row.dump().c_str());
  };
  for (std::int64_t step = start_step; step < c.run.steps; ++step) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<const SftExample*> part;
    for (std::int64_t j = 0; j < c.optim.batch_size; ++j) part.push_back(&examples.train[sampler.at(step * c.optim.batch_size + j)]);
    auto batch = make_batch(part, pad);
    for (auto& p : params)
      if (p.grad().defined()) p.mutable_grad() = at::Tensor();
    auto loss = masked_lm_loss(model.forward(batch.ids, batch.mask), batch.ids, batch.loss_mask);
    loss.backward();
    double lr = lr_at(c, step);
    double grad_norm = 0;
    {
      torch::NoGradGuard no_grad;
      double sq = 0;
      for (auto& p : params)
        if (p.grad().defined()) sq += p.grad().pow(2).sum().item<double>();
      grad_norm = std::sqrt(sq);
      double scale = (c.optim.grad_clip > 0 && grad_norm > c.optim.grad_clip) ? c.optim.grad_clip / (grad_norm + 1e-12) : 1.0;
      double t = static_cast<double>(step + 1);
      double bc1 = 1.0 - std::pow(c.optim.beta1, t), bc2 = 1.0 - std::pow(c.optim.beta2, t);
      for (std::size_t i = 0; i < params.size(); ++i) {
        auto& p = params[i];
        if (!p.grad().defined()) continue;
        auto g = p.grad() * scale;
        m[i].mul_(c.optim.beta1).add_(g, 1.0 - c.optim.beta1);
        v[i].mul_(c.optim.beta2).addcmul_(g, g, 1.0 - c.optim.beta2);
        if (p.dim() >= 2 && c.optim.weight_decay > 0) p.mul_(1.0 - lr * c.optim.weight_decay);
        auto denom = (v[i] / bc2).sqrt_().add_(c.optim.adam_eps);
        p.addcdiv_(m[i], denom, -lr / bc1);
      }
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    time_train += seconds;
    tokens_seen += batch.ids.numel();
    double loss_value = loss.item<double>();
    if (!std::isfinite(loss_value)) fail("sft: the loss is not finite at step {} (lower lr?)", step);
    bool last = step + 1 == c.run.steps;
    bool do_log = (step + 1) % std::max<std::int64_t>(c.run.log_every, 1) == 0 || last;
    bool do_eval = c.run.eval_every > 0 && ((step + 1) % c.run.eval_every == 0 || last);
    if (do_log || do_eval) {
      Json row = {{"step", step + 1}, {"loss", loss_value}, {"lr", lr}, {"grad_norm", grad_norm},
                  {"tokens", tokens_seen}, {"time_train", time_train}};
      if (do_eval) evaluate(step + 1, row);
      metrics.write(row);
    }
    if (c.run.save_every > 0 && ((step + 1) % c.run.save_every == 0) && !last) save_checkpoint(step + 1);
    progress.advance(1, fmt::format("loss {:.3f} lr {:.2e}", loss_value, lr));
  }
  progress.finish();
  if (start_step < c.run.steps) save_checkpoint(c.run.steps);
  model.set_requires_grad(false);
  auto final_dir = c.run.out / "final";
  write_dir_atomic(final_dir, [&](const fs::path& dir) { save_model_files(dir, c.run.export_dtype); });
  if (!c.run.export_dir.empty()) {
    write_dir_atomic(c.run.export_dir, [&](const fs::path& dir) {
      for (const char* name : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
        if (fs::exists(final_dir / name)) write_file_atomic(dir / name, read_file(final_dir / name));
    });
    std::fprintf(stderr, "sft: exported %s\n", c.run.export_dir.string().c_str());
  }
  return final_dir;
}

}  // namespace illume::train

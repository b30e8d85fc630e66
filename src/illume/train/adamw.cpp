#include "illume/train/adamw.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/ranges.h>

#include "illume/io/safetensors.h"
#include "illume/io/safetensors_torch.h"
#include "illume/util/error.h"

namespace illume::train {

bool decays_weight(const at::Tensor& parameter) { return parameter.dim() >= 2; }

AdamW::AdamW(const NamedTensors& parameters, AdamWOptions options) : options_(options) {
  for (const auto& [name, p] : parameters) {
    Slot s;
    s.name = name;
    s.parameter = p;
    s.exp_avg = torch::zeros_like(p).detach();
    s.exp_avg_sq = torch::zeros_like(p).detach();
    s.decay = decays_weight(p);
    slots_.push_back(std::move(s));
  }
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  const auto& o = options_;
  const double t = static_cast<double>(steps_ + 1);
  const double correction1 = 1.0 - std::pow(o.beta1, t), correction2 = 1.0 - std::pow(o.beta2, t);
  for (auto& s : slots_) {
    const auto& g = s.parameter.grad();
    if (!g.defined()) continue;
    s.exp_avg.mul_(o.beta1).add_(g, 1.0 - o.beta1);
    s.exp_avg_sq.mul_(o.beta2).addcmul_(g, g, 1.0 - o.beta2);
    if (s.decay && o.weight_decay > 0) s.parameter.mul_(1.0 - lr * o.weight_decay);
    auto denominator = (s.exp_avg_sq / correction2).sqrt_().add_(o.eps);
    s.parameter.addcdiv_(s.exp_avg, denominator, -lr / correction1);
  }
  ++steps_;
}

void AdamW::zero_grad() {
  for (auto& s : slots_)
    if (s.parameter.grad().defined()) s.parameter.mutable_grad() = at::Tensor();
}

std::vector<at::Tensor> AdamW::parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& s : slots_) out.push_back(s.parameter);
  return out;
}

AdamW::NamedTensors AdamW::state() const {
  NamedTensors out;
  for (const auto& s : slots_) {
    out.emplace_back(s.name + ".exp_avg", s.exp_avg);
    out.emplace_back(s.name + ".exp_avg_sq", s.exp_avg_sq);
  }
  return out;
}

void AdamW::save(const std::filesystem::path& path) const {
  save_safetensors(path, state(), {{"optimizer", "AdamW"}, {"steps", std::to_string(steps_)}});
}

std::string AdamW::load(const std::filesystem::path& path) {
  st::SafetensorsFile file(path);
  const auto& metadata = file.metadata();
  auto steps = metadata.find("steps");
  if (metadata.count("optimizer") == 0 || metadata.at("optimizer") != "AdamW" || steps == metadata.end())
    fail("{}: not an illume AdamW state (metadata lacks optimizer: AdamW and steps)", path.string());
  std::int64_t saved_steps = 0;
  try {
    saved_steps = std::stoll(steps->second);
  } catch (const std::exception&) {
    fail("{}: metadata 'steps' is not a number: '{}'", path.string(), steps->second);
  }
  if (saved_steps < 0) fail("{}: metadata 'steps' is negative ({})", path.string(), saved_steps);
  // Check everything before changing anything: a partial load would mix two states.
  std::vector<std::pair<at::Tensor, at::Tensor>> loaded;
  for (const auto& s : slots_) {
    for (const auto& [name, target] : {std::pair{s.name + ".exp_avg", s.exp_avg}, std::pair{s.name + ".exp_avg_sq", s.exp_avg_sq}}) {
      if (!file.contains(name)) return "it has no state for parameter '" + s.name + "'";
      auto tensor = to_tensor(file, name);
      if (tensor.sizes() != target.sizes())
        return fmt::format("parameter '{}' has another shape there ([{}] vs [{}])", s.name, fmt::join(tensor.sizes(), ", "),
                           fmt::join(target.sizes(), ", "));
      loaded.emplace_back(target, tensor);
    }
  }
  if (file.size() != loaded.size())
    return fmt::format("it holds {} moment tensors, this model needs {}", file.size(), loaded.size());
  torch::NoGradGuard no_grad;
  for (auto& [target, tensor] : loaded) target.copy_(tensor);
  steps_ = saved_steps;
  return "";
}

double clip_grad_norm(const std::vector<at::Tensor>& parameters, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> norms;
  for (const auto& p : parameters)
    if (p.grad().defined()) norms.push_back(p.grad().detach().to(torch::kFloat).norm());
  if (norms.empty()) return 0.0;
  // One host synchronisation for the whole model.
  const double norm = torch::stack(norms).norm().item<double>();
  if (max_norm > 0 && norm > max_norm) {
    const double scale = max_norm / (norm + 1e-6);
    for (const auto& p : parameters)
      if (p.grad().defined()) p.grad().mul_(scale);
  }
  return norm;
}

LrSchedule LrSchedule::constant(double lr) {
  LrSchedule s;
  s.lr = lr;
  return s;
}

LrSchedule LrSchedule::warmup_cosine(double lr, std::int64_t warmup_steps, std::int64_t total_steps, double min_ratio) {
  LrSchedule s;
  s.lr = lr;
  s.warmup_steps = warmup_steps;
  s.total_steps = total_steps;
  s.min_ratio = min_ratio;
  s.cosine = true;
  return s;
}

double LrSchedule::at(std::int64_t step) const {
  if (warmup_steps > 0 && step < warmup_steps) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  if (!cosine) return lr;
  const double span = std::max<double>(1.0, static_cast<double>(total_steps - warmup_steps));
  const double progress = std::clamp(static_cast<double>(step - warmup_steps) / span, 0.0, 1.0);
  const double cosine_factor = 0.5 * (1.0 + std::cos(M_PI * progress));
  return lr * (min_ratio + (1.0 - min_ratio) * cosine_factor);
}

}  // namespace illume::train

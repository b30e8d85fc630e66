// The optimiser every trainer uses: AdamW (Loshchilov & Hutter), its weight-decay mask, global
// gradient-norm clipping and the learning-rate schedule.
//
//   m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2,   t = steps taken + 1
//   p = p (1 - lr wd)              (decayed parameters only: see decays_weight)
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps)
//
// State is keyed by the parameter's Hugging Face name, so it survives any reordering and a checkpoint
// written by one trainer loads into another with the same model (optimizer.safetensors: NAME.exp_avg,
// NAME.exp_avg_sq; metadata "steps").
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace illume::train {

struct AdamWOptions {
  double lr = 1e-3;  // the base rate; LrSchedule scales it per step
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

// Whether weight decay applies: matrices (embeddings, projections) yes; 1-D tensors (norm scales,
// biases) no, as Hugging Face's and TRL's trainers do.
bool decays_weight(const at::Tensor& parameter);

class AdamW {
 public:
  using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;
  // `parameters`: the trainable tensors by name (Model::weights().named_tensors). Moments start at 0.
  AdamW(const NamedTensors& parameters, AdamWOptions options);

  // One update, at learning rate `lr`, of every parameter that has a gradient.
  void step(double lr);
  // Drops the gradients (frees their memory; the next backward allocates fresh ones).
  void zero_grad();

  std::int64_t steps() const { return steps_; }
  const AdamWOptions& options() const { return options_; }
  std::vector<at::Tensor> parameters() const;
  // The moments by name: NAME.exp_avg, NAME.exp_avg_sq (what save() writes).
  NamedTensors state() const;

  // optimizer.safetensors (atomic).
  void save(const std::filesystem::path& path) const;
  // Loads a state written by save() for the same parameter names and shapes. When the file holds other
  // parameters (another model), nothing changes and the reason is returned; an empty string means
  // loaded. A file that is not a safetensors file, or lacks the step count, fails naming it.
  std::string load(const std::filesystem::path& path);

 private:
  struct Slot {
    std::string name;
    at::Tensor parameter, exp_avg, exp_avg_sq;
    bool decay = false;
  };
  std::vector<Slot> slots_;
  AdamWOptions options_;
  std::int64_t steps_ = 0;
};

// The global L2 norm of the gradients (over every parameter that has one); when max_norm > 0 and the
// norm exceeds it, scales the gradients by max_norm / (norm + 1e-6) as torch.nn.utils.clip_grad_norm_.
// Returns the norm before clipping.
double clip_grad_norm(const std::vector<at::Tensor>& parameters, double max_norm);

// The learning rate of each step (0-based): constant, or a linear warm-up over warmup_steps
// (lr * (step + 1) / warmup_steps) then a cosine from lr down to min_ratio * lr at total_steps.
struct LrSchedule {
  double lr = 1e-3;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 0;
  double min_ratio = 1.0;
  bool cosine = false;

  static LrSchedule constant(double lr);
  static LrSchedule warmup_cosine(double lr, std::int64_t warmup_steps, std::int64_t total_steps, double min_ratio);
  double at(std::int64_t step) const;
};

}  // namespace illume::train

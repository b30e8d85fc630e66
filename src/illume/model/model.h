// The decoder: one implementation for Qwen3, Qwen2 and Llama (the differences are feature flags in
// ModelConfig, filled in by each architecture's parser in io/model_config.cpp).
//
//   x = embed[ids]                                           [B, T, D]
//   for each layer:
//     h = rms_norm(x) ; q,k,v = h Wq (+bq), h Wk (+bk), h Wv (+bv)     q [B, H, T, hd], k/v [B, Hkv, T, hd]
//     (qwen3) q,k = rms_norm_per_head(q), rms_norm_per_head(k)
//     q,k = rope(q), rope(k)                                  rotate-half layout, llama3 scaling optional
//     a = softmax(q k^T / sqrt(hd) + causal/padding mask)     computed explicitly, in query blocks, fp32;
//                                                             each block is shown to the AttentionObserver
//     x = x + (a v) Wo
//     x = x + down(silu(gate(rms_norm(x))) * up(rms_norm(x)))
//   logits = rms_norm(x) W_head^T  (W_head = embed when tied)
//
// Two paths share these blocks: `forward` (training: full sequences, autograd, padding mask) and
// `prefill`/`decode` (inference: a KV cache, batched sequences of different lengths, left-padded).
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "illume/io/model_config.h"
#include "illume/model/attention_observer.h"

namespace illume {

struct LayerWeights {
  at::Tensor input_norm;                    // [D]
  at::Tensor q_proj, k_proj, v_proj;        // [H*hd, D], [Hkv*hd, D], [Hkv*hd, D]
  at::Tensor q_bias, k_bias, v_bias;        // [H*hd], [Hkv*hd] (undefined unless attention_bias)
  at::Tensor q_norm, k_norm;                // [hd] (undefined unless qk_norm)
  at::Tensor o_proj;                        // [D, H*hd]
  at::Tensor post_attention_norm;           // [D]
  at::Tensor gate_proj, up_proj, down_proj; // [I, D], [I, D], [D, I]
};

struct ModelWeights {
  at::Tensor embed;   // [V, D]
  std::vector<LayerWeights> layers;
  at::Tensor norm;    // [D]
  at::Tensor lm_head; // [V, D]; the same tensor as embed when tied
  // Hugging Face names -> tensors (lm_head.weight omitted when tied). The order is stable.
  std::vector<std::pair<std::string, at::Tensor>> named_tensors(const ModelConfig& config) const;
};

struct LoadOptions {
  c10::Device device = c10::Device(c10::kCPU);
  // Compute dtype; weights are converted to it once at load (bf16 files load exactly into f32).
  c10::ScalarType dtype = c10::kFloat;
  // Load even when the checkpoint holds tensors the model does not read (default: an error naming one).
  bool allow_unused_weights = false;
  // Compute in `dtype` even where it has no fast kernels: bf16/f16 on a CPU without AVX-512 otherwise
  // computes in f32 (device.h compute_dtype; a note on stderr says so once per process).
  bool keep_dtype = false;
};

// `options` with the dtype the model will compute in (compute_dtype); prints its note once per process.
LoadOptions resolve_compute_dtype(LoadOptions options);

// The inference cache: per layer K and V [B, Hkv, capacity, hd] (fp32: attention over a growing
// cache is faster in fp32, and it keeps the cached path numerically equal to the full forward).
//
// Every row writes its next token to the same slot, `length`; a row's tokens end there and start
// wherever it began (the slots before are invalid: left padding, or what an earlier occupant of the
// row left). Continuous batching (infer/generate.cpp) replaces a finished row in place:
//   slot         0   1   2   3   4   5 | length = 6
//   row 0        a0  a1  a2  a3  a4  a5            next_position 6
//   row 1        .   .   .   b0  b1  b2            next_position 3 (inserted by insert_rows)
// and shift_slots moves every row left by the slots no row uses (compaction) or right (room for a
// longer prompt), so the shared length stays bounded by the longest live row.
struct KVCache {
  std::vector<at::Tensor> keys, values;
  at::Tensor key_valid;       // [B, capacity] bool: slot holds a real token (false for left padding)
  at::Tensor next_position;   // [B] int64: RoPE position of the next token of each row
  std::int64_t length = 0;    // slots used (the same for every row: rows are left-padded)
  std::int64_t capacity = 0;
  std::int64_t batch() const { return key_valid.defined() ? key_valid.size(0) : 0; }
  // Keeps/reorders/duplicates rows: index [B'] int64 of rows to take (e.g. repeat_interleave for samples,
  // or the unfinished rows when compacting).
  void select_rows(const at::Tensor& index);
  // Empties rows (index [n] int64): every slot invalid, next position 0; K/V values stay (masked).
  void clear_rows(const at::Tensor& index);
  // Writes source rows into this cache's rows, right-aligned to end at `length`: row rows[i] gets
  // source row source_rows[i]'s slots [0, source.length) at [length - source.length, length), its
  // earlier slots become invalid and its next position is the source row's. Needs source.length <=
  // length (shift_slots makes room) and the same layers and head shapes.
  void insert_rows(const at::Tensor& rows, const KVCache& source, const at::Tensor& source_rows);
  // The number of leading slots that no row uses (invalid in every row), in [0, length].
  std::int64_t common_invalid_prefix() const;
  // Moves every row's slots by `shift` (negative: left, dropping -shift leading slots that must be
  // invalid in every row; positive: right, adding invalid slots in front) into new storage of
  // new_capacity >= length + shift slots. length becomes length + shift; positions do not change.
  void shift_slots(std::int64_t shift, std::int64_t new_capacity);
  std::int64_t bytes() const;
};

class Model {
 public:
  // Loads a Hugging Face folder: config.json + model.safetensors (or sharded with an index).
  static Model load(const std::filesystem::path& model_dir, const LoadOptions& options = {});
  // Random weights of the given shape (benchmarks, self-made tiny models). Deterministic per seed.
  static Model random(const ModelConfig& config, std::uint64_t seed, const LoadOptions& options = {});
  Model(ModelConfig config, ModelWeights weights, LoadOptions options);

  const ModelConfig& config() const { return config_; }
  ModelWeights& weights() { return weights_; }
  const ModelWeights& weights() const { return weights_; }
  c10::Device device() const { return options_.device; }
  c10::ScalarType dtype() const { return options_.dtype; }
  // All trainable tensors (for optimisers); tied weights appear once.
  std::vector<at::Tensor> parameters() const;
  void set_requires_grad(bool requires_grad);

  // Query rows per attention block (smaller: less memory; the observer sees blocks of this size).
  void set_attention_block_rows(std::int64_t rows) { attention_block_rows_ = rows; }

  // --- training path (autograd) ---
  // ids [B, T] int64; mask [B, T] (1 = token, 0 = padding; left or right padding). Positions count
  // real tokens from 0 in each row. Returns the final-normed hidden states [B, T, D].
  at::Tensor forward_hidden(const at::Tensor& ids, const at::Tensor& mask, AttentionObserver* observer = nullptr) const;
  // hidden [..., D] -> logits [..., V] in float32.
  at::Tensor logits(const at::Tensor& hidden) const;
  // forward_hidden + logits: [B, T, V] float32.
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask, AttentionObserver* observer = nullptr) const;

  // --- inference path (no autograd) ---
  KVCache new_cache(std::int64_t batch, std::int64_t capacity) const;
  // Appends left-padded ids [B, T] (mask [B, T], 1 = token) to an empty cache; returns the logits of
  // each row's last position [B, V] float32.
  at::Tensor prefill(KVCache& cache, const at::Tensor& ids, const at::Tensor& mask,
                     AttentionObserver* observer = nullptr) const;
  // One new token per row: ids [B] int64 -> logits [B, V] float32.
  at::Tensor decode(KVCache& cache, const at::Tensor& ids, AttentionObserver* observer = nullptr) const;

  // Writes config.json + model.safetensors (HF layout, the weights in `dtype`) atomically.
  void save(const std::filesystem::path& model_dir, c10::ScalarType dtype = c10::kFloat) const;

 private:
  struct Rope;
  at::Tensor run_layers(at::Tensor x, const at::Tensor& positions, const at::Tensor& key_valid, KVCache* cache,
                        std::int64_t cache_offset, AttentionObserver* observer) const;
  at::Tensor rope_tables(const at::Tensor& positions) const;  // [B, T, hd] cos and sin stacked: [2, B, T, hd]

  ModelConfig config_;
  ModelWeights weights_;
  LoadOptions options_;
  at::Tensor inv_freq_;  // [hd/2] float64 on device
  std::int64_t attention_block_rows_ = 256;
};

}  // namespace illume

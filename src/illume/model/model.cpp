#include "illume/model/model.h"

#include <torch/torch.h>

#include <cmath>

#include "illume/model/device.h"
#include "illume/model/weight_table.h"
#include "illume/util/error.h"

namespace illume {

namespace {

using torch::indexing::Slice;

// x [..., in] -> [..., out]. A single row goes through mv, which beats linear for one-token decode
// on CPU (fp32); everything else through linear (BLAS / oneDNN).
at::Tensor project(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {}) {
  if (x.numel() == x.size(-1) && x.scalar_type() == at::kFloat && x.device().is_cpu() && !x.requires_grad() &&
      !weight.requires_grad()) {
    auto sizes = x.sizes().vec();
    sizes.back() = weight.size(0);
    auto y = torch::mv(weight, x.reshape({-1}));
    if (bias.defined()) y.add_(bias);
    return y.view(sizes);
  }
  return torch::linear(x, weight, bias);
}

// RMSNorm over the last dimension: y = x / sqrt(mean(x^2) + eps) * weight, normalised in fp32 and cast
// back to x's dtype before the weight multiplies (as HF's Qwen3RMSNorm / LlamaRMSNorm).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  auto xf = x.to(at::kFloat);
  auto y = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return y.to(x.scalar_type()) * weight;
}

// rotate_half layout: dimension i pairs with i + hd/2.
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  auto half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half);
  auto x2 = x.narrow(-1, half, half);
  auto rotated = torch::cat({-x2, x1}, -1);
  return x * cos + rotated * sin;
}

// inv_freq[i] = theta^(-2i/hd), with Llama 3's frequency-dependent scaling when configured.
at::Tensor inverse_frequencies(const ModelConfig& c) {
  auto inv = 1.0 / torch::pow(c.rope_theta, torch::arange(0, c.head_dim, 2, torch::kFloat64) / double(c.head_dim));
  if (c.rope_scaling.type == "llama3") {
    const auto& rs = c.rope_scaling;
    double old_len = double(rs.original_max_position_embeddings);
    double low_wavelen = old_len / rs.low_freq_factor, high_wavelen = old_len / rs.high_freq_factor;
    auto wavelen = 2 * M_PI / inv;
    auto scaled = torch::where(wavelen > low_wavelen, inv / rs.factor, inv);
    auto smooth = (old_len / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
    auto smoothed = (1 - smooth) * scaled / rs.factor + smooth * scaled;
    auto medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen);
    inv = torch::where(medium, smoothed, scaled);
  }
  return inv;
}

// One query block of the attention: query rows [start, start + rows), which reach keys [0, key_end).
// The causal mask hides every key after the block's last row from the whole block, so its scores, softmax
// and (a v) product run over keys [0, key_end) only: a causal prefill computes the triangle (plus half a
// block per block) instead of the full square. The result is that of the full square, whose later
// columns would be exp(-inf) = 0; narrow's backward puts zeros there, so gradients agree too.
struct QueryBlock {
  std::int64_t start = 0, rows = 0, key_end = 0;
  at::Tensor hidden;  // [B, 1, rows, key_end] bool: keys the block's queries must not see
};

// The blocks of a forward and their masks, built once and shared by every layer (they depend only on
// the layout: a query at key slot s sees key j when j <= s and key j is a real token; a padding query
// sees only itself, so every row is a proper distribution, no NaN).
//   key_valid [B, Tk] bool; query row i sits at key slot query_begin + i.
std::vector<QueryBlock> plan_query_blocks(const at::Tensor& key_valid, std::int64_t query_rows, std::int64_t query_begin,
                                          std::int64_t block_rows) {
  const auto B = key_valid.size(0), Tk = key_valid.size(1);
  auto columns = torch::arange(Tk, torch::TensorOptions().dtype(torch::kLong).device(key_valid.device())).view({1, Tk});
  std::vector<QueryBlock> blocks;
  for (std::int64_t start = 0; start < query_rows; start += block_rows) {
    QueryBlock block;
    block.start = start;
    block.rows = std::min(block_rows, query_rows - start);
    const auto first_row = query_begin + start;
    block.key_end = std::min(Tk, first_row + block.rows);
    auto block_columns = columns.narrow(1, 0, block.key_end);
    auto key_ok = key_valid.narrow(1, 0, block.key_end).view({B, 1, 1, block.key_end});
    auto rows = torch::arange(first_row, first_row + block.rows, columns.options()).view({block.rows, 1});
    auto allowed = (block_columns <= rows).logical_and(key_ok.logical_or(block_columns == rows));
    block.hidden = allowed.logical_not();
    blocks.push_back(std::move(block));
  }
  return blocks;
}

// Explicit softmax attention over query blocks (so probabilities exist and the observer can see them).
//   q [B, H, Tq, hd] fp32; k, v [B, Hkv, Tk, hd] fp32; blocks from plan_query_blocks.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const std::vector<QueryBlock>& blocks,
                     std::int64_t query_begin, int layer, AttentionObserver* observer) {
  const auto B = q.size(0), H = q.size(1), hd = q.size(3);
  const auto Hkv = k.size(1), Tk = k.size(2), G = H / Hkv;
  const double scale = 1.0 / std::sqrt(double(hd));
  auto kt = k.transpose(-1, -2);  // [B, Hkv, hd, Tk]
  bool observe = observer != nullptr && observer->wants_layer(layer);
  std::vector<at::Tensor> outputs;
  for (const auto& block : blocks) {
    const auto n = block.rows, key_end = block.key_end;
    auto qb = q.narrow(2, block.start, n).reshape({B, Hkv, G * n, hd});
    auto scores = torch::matmul(qb, kt.narrow(-1, 0, key_end)).mul(scale).view({B, H, n, key_end});
    auto probs = torch::softmax(scores.masked_fill(block.hidden, -std::numeric_limits<float>::infinity()), -1);
    if (observe) {
      torch::NoGradGuard no_grad;
      // Observers read [B, H, n, Tk] (AttentionBlock): the skipped keys are the zeros the mask gave them.
      auto detached = key_end < Tk ? torch::constant_pad_nd(probs.detach(), {0, Tk - key_end}) : probs.detach();
      AttentionBlock shown;
      shown.layer = layer;
      shown.query_begin = query_begin + block.start;
      shown.keys_computed = key_end;
      shown.probs = &detached;
      observer->on_block(shown);
    }
    outputs.push_back(torch::matmul(probs.view({B, Hkv, G * n, key_end}), v.narrow(2, 0, key_end)).view({B, H, n, hd}));
  }
  return outputs.size() == 1 ? outputs[0] : torch::cat(outputs, 2);
}

}  // namespace

std::vector<std::pair<std::string, at::Tensor>> ModelWeights::named_tensors(const ModelConfig& config) const {
  check(static_cast<std::int64_t>(layers.size()) == config.num_layers, "model weights: {} layers, but the config has {}",
        layers.size(), config.num_layers);
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& slot : weight_slots(config)) out.emplace_back(slot.name, slot.in(*this));
  return out;
}

void KVCache::select_rows(const at::Tensor& index) {
  for (auto& t : keys) t = t.index_select(0, index);
  for (auto& t : values) t = t.index_select(0, index);
  key_valid = key_valid.index_select(0, index);
  next_position = next_position.index_select(0, index);
}

void KVCache::clear_rows(const at::Tensor& index) {
  if (index.numel() == 0) return;
  key_valid.index_fill_(0, index, false);
  next_position.index_fill_(0, index, 0);
}

void KVCache::insert_rows(const at::Tensor& rows, const KVCache& source, const at::Tensor& source_rows) {
  check(rows.numel() == source_rows.numel(), "KV cache: insert_rows got {} rows and {} source rows", rows.numel(),
        source_rows.numel());
  check(source.keys.size() == keys.size(), "KV cache: insert_rows from a cache of {} layers into one of {}",
        source.keys.size(), keys.size());
  check(source.length <= length, "KV cache: a source of {} slots does not fit before slot {}", source.length, length);
  if (rows.numel() == 0) return;
  const auto n = source.length, begin = length - n;
  clear_rows(rows);
  for (std::size_t l = 0; l < keys.size(); ++l) {
    keys[l].narrow(2, begin, n).index_copy_(0, rows, source.keys[l].narrow(2, 0, n).index_select(0, source_rows));
    values[l].narrow(2, begin, n).index_copy_(0, rows, source.values[l].narrow(2, 0, n).index_select(0, source_rows));
  }
  key_valid.narrow(1, begin, n).index_copy_(0, rows, source.key_valid.narrow(1, 0, n).index_select(0, source_rows));
  next_position.index_copy_(0, rows, source.next_position.index_select(0, source_rows));
}

std::int64_t KVCache::common_invalid_prefix() const {
  if (length == 0) return 0;
  auto unused = key_valid.narrow(1, 0, length).any(0).logical_not();  // [length]: no row holds a token there
  return unused.to(torch::kLong).cumprod(0).sum().item<std::int64_t>();  // the leading run of unused slots
}

void KVCache::shift_slots(std::int64_t shift, std::int64_t new_capacity) {
  check(length + shift >= 0 && new_capacity >= length + shift,
        "KV cache: shifting {} slots by {} does not fit {} slots", length, shift, new_capacity);
  check(shift >= 0 || common_invalid_prefix() >= -shift, "KV cache: shifting left by {} would drop used slots", -shift);
  const auto kept = shift >= 0 ? length : length + shift;  // slots that move
  const auto from = shift >= 0 ? 0 : -shift, to = shift >= 0 ? shift : 0;
  // New zeroed storage: slots that no row uses must hold finite values (masked scores are -inf, but
  // a NaN in V would still reach the output through 0 * NaN).
  auto moved = [&](const at::Tensor& t) {
    auto sizes = t.sizes().vec();
    sizes[2] = new_capacity;
    auto out = torch::zeros(sizes, t.options());
    out.narrow(2, to, kept).copy_(t.narrow(2, from, kept));
    return out;
  };
  for (auto& t : keys) t = moved(t);
  for (auto& t : values) t = moved(t);
  auto valid = torch::zeros({key_valid.size(0), new_capacity}, key_valid.options());
  valid.narrow(1, to, kept).copy_(key_valid.narrow(1, from, kept));
  key_valid = valid;
  length += shift;
  capacity = new_capacity;
}

std::int64_t KVCache::bytes() const {
  std::int64_t total = 0;
  for (const auto& t : keys) total += t.numel() * t.element_size();
  for (const auto& t : values) total += t.numel() * t.element_size();
  return total;
}

Model::Model(ModelConfig config, ModelWeights weights, LoadOptions options)
    : config_(std::move(config)), weights_(std::move(weights)), options_(options) {
  init_torch_runtime();
  inv_freq_ = inverse_frequencies(config_).to(options_.device);
}

Model Model::random(const ModelConfig& c, std::uint64_t seed, const LoadOptions& requested) {
  torch::NoGradGuard no_grad;
  const auto options = resolve_compute_dtype(requested);
  auto gen = at::detail::createCPUGenerator(seed);
  auto f32 = torch::TensorOptions().dtype(torch::kFloat);
  auto normal = [&](std::vector<std::int64_t> shape, double std) {
    return (torch::randn(shape, gen, f32) * std).to(options.device, options.dtype);
  };
  ModelWeights w;
  w.layers.resize(static_cast<std::size_t>(c.num_layers));
  for (const auto& slot : weight_slots(c)) {  // in table order, so a seed always gives the same weights
    slot.in(w) = slot.init == WeightInit::ones ? torch::ones(slot.shape, f32).to(options.device, options.dtype)
                                               : normal(slot.shape, init_std(slot.init, slot.shape, c));
  }
  if (c.tie_word_embeddings) w.lm_head = w.embed;
  return Model(c, std::move(w), options);
}

std::vector<at::Tensor> Model::parameters() const {
  std::vector<at::Tensor> out;
  for (auto& [name, t] : weights_.named_tensors(config_)) out.push_back(t);
  return out;
}

void Model::set_requires_grad(bool requires_grad) {
  for (auto& t : parameters()) t.requires_grad_(requires_grad);
}

at::Tensor Model::rope_tables(const at::Tensor& positions) const {
  // Angles in float64 (more exact than HF's fp32 for long positions), then fp32 cos/sin.
  auto angles = positions.to(torch::kFloat64).unsqueeze(-1) * inv_freq_;  // [B, T, hd/2]
  angles = torch::cat({angles, angles}, -1);                               // [B, T, hd]
  return torch::stack({angles.cos(), angles.sin()}).to(torch::kFloat).unsqueeze(2);  // [2, B, 1, T, hd]
}

at::Tensor Model::run_layers(at::Tensor x, const at::Tensor& positions, const at::Tensor& key_valid, KVCache* cache,
                             std::int64_t cache_offset, AttentionObserver* observer) const {
  const auto& c = config_;
  const auto B = x.size(0), T = x.size(1);
  const auto H = c.num_heads, Hkv = c.num_kv_heads, hd = c.head_dim;
  auto rope = rope_tables(positions);
  auto cos = rope[0], sin = rope[1];
  const auto valid = cache != nullptr ? cache->key_valid.narrow(1, 0, cache_offset + T) : key_valid;
  const auto blocks = plan_query_blocks(valid, T, cache_offset, attention_block_rows_);
  for (std::int64_t l = 0; l < c.num_layers; ++l) {
    const auto& L = weights_.layers[l];
    auto h = rms_norm(x, L.input_norm, c.rms_norm_eps);
    auto q = project(h, L.q_proj, L.q_bias).view({B, T, H, hd});
    auto k = project(h, L.k_proj, L.k_bias).view({B, T, Hkv, hd});
    auto v = project(h, L.v_proj, L.v_bias).view({B, T, Hkv, hd});
    if (c.qk_norm) {
      q = rms_norm(q, L.q_norm, c.rms_norm_eps);
      k = rms_norm(k, L.k_norm, c.rms_norm_eps);
    }
    q = apply_rope(q.transpose(1, 2).to(torch::kFloat), cos, sin);  // [B, H, T, hd] fp32
    k = apply_rope(k.transpose(1, 2).to(torch::kFloat), cos, sin);  // [B, Hkv, T, hd]
    v = v.transpose(1, 2).to(torch::kFloat);
    at::Tensor keys = k, values = v;
    if (cache != nullptr) {
      cache->keys[l].narrow(2, cache_offset, T).copy_(k);
      cache->values[l].narrow(2, cache_offset, T).copy_(v);
      keys = cache->keys[l].narrow(2, 0, cache_offset + T);
      values = cache->values[l].narrow(2, 0, cache_offset + T);
    }
    auto a = attention(q, keys, values, blocks, cache_offset, static_cast<int>(l), observer);
    a = a.to(x.scalar_type()).transpose(1, 2).reshape({B, T, H * hd});
    x = x + project(a, L.o_proj);
    auto h2 = rms_norm(x, L.post_attention_norm, c.rms_norm_eps);
    x = x + project(torch::silu(project(h2, L.gate_proj)) * project(h2, L.up_proj), L.down_proj);
  }
  return x;
}

at::Tensor Model::forward_hidden(const at::Tensor& ids, const at::Tensor& mask, AttentionObserver* observer) const {
  check(ids.dim() == 2 && mask.sizes() == ids.sizes(), "forward: ids and mask must both be [batch, length]");
  auto ids_d = ids.to(options_.device, torch::kLong);
  auto mask_d = mask.to(options_.device, torch::kLong);
  if (ids.size(1) > config_.max_position_embeddings) {
    const auto longest = mask_d.sum(1).max().item<std::int64_t>();
    check(longest <= config_.max_position_embeddings,
          "forward: a sequence of {} tokens exceeds the model's max_position_embeddings ({})", longest,
          config_.max_position_embeddings);
  }
  auto positions = (mask_d.cumsum(1) - 1).clamp_min(0);
  auto x = weights_.embed.index_select(0, ids_d.reshape({-1})).view({ids.size(0), ids.size(1), -1});
  x = run_layers(x, positions, mask_d.to(torch::kBool), nullptr, 0, observer);
  return rms_norm(x, weights_.norm, config_.rms_norm_eps);
}

at::Tensor Model::logits(const at::Tensor& hidden) const { return project(hidden, weights_.lm_head).to(torch::kFloat); }

at::Tensor Model::forward(const at::Tensor& ids, const at::Tensor& mask, AttentionObserver* observer) const {
  return logits(forward_hidden(ids, mask, observer));
}

KVCache Model::new_cache(std::int64_t batch, std::int64_t capacity) const {
  KVCache cache;
  auto opts = torch::TensorOptions().dtype(torch::kFloat).device(options_.device);
  for (std::int64_t l = 0; l < config_.num_layers; ++l) {
    cache.keys.push_back(torch::zeros({batch, config_.num_kv_heads, capacity, config_.head_dim}, opts));
    cache.values.push_back(torch::zeros({batch, config_.num_kv_heads, capacity, config_.head_dim}, opts));
  }
  cache.key_valid = torch::zeros({batch, capacity}, opts.dtype(torch::kBool));
  cache.next_position = torch::zeros({batch}, opts.dtype(torch::kLong));
  cache.capacity = capacity;
  return cache;
}

at::Tensor Model::prefill(KVCache& cache, const at::Tensor& ids, const at::Tensor& mask,
                          AttentionObserver* observer) const {
  torch::NoGradGuard no_grad;
  check(ids.dim() == 2 && mask.sizes() == ids.sizes(), "prefill: ids and mask must both be [batch, length]");
  check(ids.size(0) == cache.batch(), "prefill: batch {} does not match the cache's {}", ids.size(0), cache.batch());
  const auto T = ids.size(1);
  check(cache.length + T <= cache.capacity, "prefill: {} tokens do not fit the KV cache ({} of {} slots used)", T,
        cache.length, cache.capacity);
  auto ids_d = ids.to(options_.device, torch::kLong);
  auto mask_d = mask.to(options_.device, torch::kLong);
  check(mask_d.select(1, T - 1).all().item<bool>(), "prefill: rows must be left-padded (last column all tokens)");
  auto positions = cache.next_position.unsqueeze(1) + (mask_d.cumsum(1) - 1).clamp_min(0);
  cache.key_valid.narrow(1, cache.length, T).copy_(mask_d.to(torch::kBool));
  auto x = weights_.embed.index_select(0, ids_d.reshape({-1})).view({ids.size(0), T, -1});
  x = run_layers(x, positions, {}, &cache, cache.length, observer);
  cache.length += T;
  cache.next_position += mask_d.sum(1);
  auto last = rms_norm(x.select(1, T - 1), weights_.norm, config_.rms_norm_eps);
  return logits(last);
}

at::Tensor Model::decode(KVCache& cache, const at::Tensor& ids, AttentionObserver* observer) const {
  torch::NoGradGuard no_grad;
  check(ids.dim() == 1 && ids.size(0) == cache.batch(), "decode: ids must be [batch] matching the cache");
  check(cache.length < cache.capacity, "decode: the KV cache is full ({} slots)", cache.capacity);
  auto ids_d = ids.to(options_.device, torch::kLong);
  cache.key_valid.select(1, cache.length).fill_(true);
  auto positions = cache.next_position.unsqueeze(1);
  auto x = weights_.embed.index_select(0, ids_d).unsqueeze(1);
  x = run_layers(x, positions, {}, &cache, cache.length, observer);
  cache.length += 1;
  cache.next_position += 1;
  return logits(rms_norm(x.select(1, 0), weights_.norm, config_.rms_norm_eps));
}

}  // namespace illume

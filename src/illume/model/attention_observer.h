// The hook through which attention statistics leave the model (STYLE.md: the model knows nothing of
// analysis or RL). The attention computation processes query rows in blocks; after the softmax of each
// block it calls the observer with that block's probabilities, then drops them. So an observer sees
// every row of every map it asks for, but no full L x L map ever has to exist.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace illume {

struct AttentionBlock {
  int layer = 0;               // 0-based decoder layer
  std::int64_t query_begin = 0;  // row index of the block's first query, in key coordinates (see below)
  // [batch, query_heads, block_rows, keys] float32 post-softmax probabilities of this block.
  // Key j is slot j of the sequence as laid out in this forward: for a full forward it is position j of
  // the (left-padded) input; with a KV cache it is cache slot j. Query row r of the block is key slot
  // query_begin + r. Entries above the diagonal and on padding keys are exactly 0; rows sum to 1.
  const at::Tensor* probs = nullptr;
  // The block's scores were computed against keys [0, keys_computed) only: later keys are causally hidden
  // from every row of the block (their columns of probs are the zeros the mask implies).
  std::int64_t keys_computed = 0;
};

class AttentionObserver {
 public:
  virtual ~AttentionObserver() = default;
  // Asked once per layer and forward; layers it does not want cost nothing extra.
  virtual bool wants_layer(int layer) const = 0;
  // Called for each query block of a wanted layer, in increasing query order, under no-grad.
  virtual void on_block(const AttentionBlock& block) = 0;
};

}  // namespace illume

#include <vector>

namespace illume {

// Hands every block to several observers (e.g. the statistics and a map recorder in one forward).
class ObserverFanOut : public AttentionObserver {
 public:
  explicit ObserverFanOut(std::vector<AttentionObserver*> observers) : observers_(std::move(observers)) {}
  bool wants_layer(int layer) const override {
    for (auto* o : observers_)
      if (o != nullptr && o->wants_layer(layer)) return true;
    return false;
  }
  void on_block(const AttentionBlock& block) override {
    for (auto* o : observers_)
      if (o != nullptr && o->wants_layer(block.layer)) o->on_block(block);
  }

 private:
  std::vector<AttentionObserver*> observers_;
};

}  // namespace illume

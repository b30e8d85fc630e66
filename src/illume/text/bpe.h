// The merge step of byte-pair encoding, separate from the tokenizer so it can be tested alone.
//
// A word is a sequence of token ids (initially one id per byte-level character). BPE repeatedly
// merges the adjacent pair with the lowest merge rank, the leftmost one when a rank occurs twice,
// until no adjacent pair has a merge. This is what Hugging Face tokenizers' Word::merge_all does.
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace illume {

class BpeMerges {
 public:
  static constexpr std::int32_t kNoMerge = std::numeric_limits<std::int32_t>::max();

  struct Merge {
    std::int32_t rank = kNoMerge;  // position in the merges list: lower merges first
    std::int32_t result = -1;      // id of the merged token
  };

  // Adds or replaces the merge (left, right) -> result. A later call for the same pair wins, as
  // in Hugging Face tokenizers (the merges list becomes a hash map).
  void add(std::int32_t left, std::int32_t right, std::int32_t rank, std::int32_t result);
  // The merge of (left, right), or {kNoMerge, -1}.
  Merge find(std::int32_t left, std::int32_t right) const;
  std::size_t size() const { return count_; }

  // Merges `word` in place. Short words use a linear scan over pair ranks (fast, no allocation
  // beyond two small vectors); long words use a priority queue so the work stays O(n log n).
  void merge(std::vector<std::int32_t>& word) const;
  // The two strategies, public for tests; both give the same result (merge_scan hands words
  // longer than kScanLimit to merge_heap).
  void merge_scan(std::vector<std::int32_t>& word) const;
  void merge_heap(std::vector<std::int32_t>& word) const;

  static constexpr std::size_t kScanLimit = 128;

 private:
  struct Slot {
    std::uint64_t key;
    Merge merge;
  };
  static constexpr std::uint64_t kEmpty = ~std::uint64_t{0};
  static std::uint64_t key_of(std::int32_t left, std::int32_t right) {
    return (std::uint64_t(std::uint32_t(left)) << 32) | std::uint32_t(right);
  }
  static std::uint64_t hash(std::uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return key;
  }
  void grow();

  // Open addressing, linear probing, power-of-two capacity, at most half full.
  std::vector<Slot> slots_;
  std::size_t count_ = 0;
};

}  // namespace illume

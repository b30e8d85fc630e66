#include "illume/text/bpe.h"

#include <algorithm>
#include <array>
#include <queue>

namespace illume {

void BpeMerges::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.empty() ? 1024 : old.size() * 2, Slot{kEmpty, {}});
  const std::size_t mask = slots_.size() - 1;
  for (const Slot& slot : old) {
    if (slot.key == kEmpty) continue;
    std::size_t i = hash(slot.key) & mask;
    while (slots_[i].key != kEmpty) i = (i + 1) & mask;
    slots_[i] = slot;
  }
}

void BpeMerges::add(std::int32_t left, std::int32_t right, std::int32_t rank, std::int32_t result) {
  if ((count_ + 1) * 2 > slots_.size()) grow();
  const std::uint64_t key = key_of(left, right);
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = hash(key) & mask;
  while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask;
  if (slots_[i].key == kEmpty) ++count_;
  slots_[i] = Slot{key, Merge{rank, result}};
}

BpeMerges::Merge BpeMerges::find(std::int32_t left, std::int32_t right) const {
  if (slots_.empty()) return {};
  const std::uint64_t key = key_of(left, right);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash(key) & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.key == key) return slot.merge;
    if (slot.key == kEmpty) return {};
  }
}

void BpeMerges::merge(std::vector<std::int32_t>& word) const {
  if (word.size() <= kScanLimit) {
    merge_scan(word);
  } else {
    merge_heap(word);
  }
}

void BpeMerges::merge_scan(std::vector<std::int32_t>& word) const {
  const std::size_t n = word.size();
  if (n < 2) return;
  if (n > kScanLimit) {  // the scan is quadratic and its buffers are fixed-size
    merge_heap(word);
    return;
  }
  // ids[0, count) is the word; pairs[i] is the merge of (ids[i], ids[i + 1]). On the stack: this
  // runs once per pre-token, and most pre-tokens are a few bytes long.
  std::array<std::int32_t, kScanLimit> ids;
  std::array<Merge, kScanLimit> pairs;
  std::size_t count = n;
  std::copy(word.begin(), word.end(), ids.begin());
  for (std::size_t i = 0; i + 1 < count; ++i) pairs[i] = find(ids[i], ids[i + 1]);
  while (count > 1) {
    std::size_t best = 0;
    for (std::size_t i = 1; i + 1 < count; ++i) {
      if (pairs[i].rank < pairs[best].rank) best = i;  // strict: the leftmost of equal ranks
    }
    if (pairs[best].rank == kNoMerge) break;
    ids[best] = pairs[best].result;
    // Close the gap at best + 1 (ids) and best (pairs), then refresh the two pairs that changed.
    std::copy(ids.begin() + best + 2, ids.begin() + count, ids.begin() + best + 1);
    std::copy(pairs.begin() + best + 1, pairs.begin() + count - 1, pairs.begin() + best);
    --count;
    if (best > 0) pairs[best - 1] = find(ids[best - 1], ids[best]);
    if (best + 1 < count) pairs[best] = find(ids[best], ids[best + 1]);
  }
  word.assign(ids.begin(), ids.begin() + count);
}

void BpeMerges::merge_heap(std::vector<std::int32_t>& word) const {
  const std::size_t n = word.size();
  if (n < 2) return;
  // Symbols form a doubly linked list over the original positions; a merged-away symbol is dead.
  struct Symbol {
    std::int32_t id;
    std::int32_t prev, next;
    bool alive;
  };
  std::vector<Symbol> symbols(n);
  for (std::size_t i = 0; i < n; ++i) {
    symbols[i] = {word[i], static_cast<std::int32_t>(i) - 1, i + 1 < n ? static_cast<std::int32_t>(i + 1) : -1, true};
  }
  struct Candidate {
    std::int32_t rank, pos, result;
    // std::priority_queue is a max-heap: "greater" means lower rank, then lower position.
    bool operator<(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : pos > other.pos;
    }
  };
  std::priority_queue<Candidate> queue;
  auto push = [&](std::int32_t pos) {
    const std::int32_t next = symbols[pos].next;
    if (next < 0) return;
    Merge m = find(symbols[pos].id, symbols[next].id);
    if (m.rank != kNoMerge) queue.push({m.rank, pos, m.result});
  };
  for (std::size_t i = 0; i + 1 < n; ++i) push(static_cast<std::int32_t>(i));

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    // Stale entry: the pair at this position changed since it was queued.
    Merge current = find(left.id, symbols[left.next].id);
    if (current.rank != top.rank || current.result != top.result) continue;
    Symbol& right = symbols[left.next];
    left.id = top.result;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) push(left.prev);
    push(top.pos);
  }
  word.clear();
  for (std::int32_t i = 0; i >= 0; i = symbols[i].next) word.push_back(symbols[i].id);
}

}  // namespace illume

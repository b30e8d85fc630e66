// Seeded randomness that gives the same numbers on every platform and standard library: SplitMix64
// (Steele, Lea and Flood 2014; the reference generator of Vigna's xoshiro page) and a Fisher-Yates
// permutation with unbiased bounded draws. std::shuffle and std::uniform_int_distribution are
// library-defined, so a run's data order would change with the compiler; these never do.
//
// Trainers keep no RNG state: every stream is seeded by mix_seed(seed, counter, stream), with counter
// the step (or the epoch), so a resumed run draws exactly what an uninterrupted one would.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace illume {

// The independent random streams of a training run (the `stream` argument of mix_seed).
enum class RandomStream : std::uint64_t {
  DataOrder = 1,        // the per-epoch permutation of the training data (SFT and GRPO)
  Rollouts = 2,         // GRPO's sampling seed of a step
  Credit = 3,           // GRPO's random credit strategy
  MicroBatchOrder = 4,  // GRPO's order of the rows across micro-batches
};

// A seed for (seed, counter, stream), well mixed: nearby inputs give unrelated seeds.
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t counter, RandomStream stream);

// SplitMix64's output function of the state x + 0x9E3779B97F4A7C15: a stateless 64-bit hash, the same
// on every platform (SplitMix64(s).next() == splitmix64(s)). For seeds derived from several keys.
std::uint64_t splitmix64(std::uint64_t x);

// SplitMix64: a 64-bit generator with one word of state.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  // Uniform in [0, n), n >= 1, without modulo bias (draws below 2^64 mod n are rejected).
  std::uint64_t below(std::uint64_t n);

 private:
  std::uint64_t state_;
};

// A uniformly random permutation of 0..n-1 (Fisher-Yates from the last slot down, SplitMix64(seed)).
std::vector<std::size_t> seeded_permutation(std::size_t n, std::uint64_t seed);

// The item at each position of an endless pass over n items, epoch after epoch: epoch e visits them in
// seeded_permutation(n, mix_seed(seed, e, DataOrder)) order (in file order when shuffle is off). The
// item at a position depends only on (n, seed, position), so resuming needs only the position.
class EpochOrder {
 public:
  EpochOrder(std::size_t n, std::uint64_t seed, bool shuffle = true);
  std::size_t at(std::uint64_t position);  // keeps the current epoch's permutation

 private:
  std::size_t n_;
  std::uint64_t seed_;
  bool shuffle_;
  std::uint64_t epoch_ = 0;
  std::vector<std::size_t> permutation_;
};

}  // namespace illume

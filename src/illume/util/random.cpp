#include "illume/util/random.h"

#include <numeric>
#include <utility>

#include "illume/util/error.h"

namespace illume {

std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t counter, RandomStream stream) {
  const auto purpose = static_cast<std::uint64_t>(stream);
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ULL ^ (counter + 1) * 0xBF58476D1CE4E5B9ULL ^ (purpose + 1) * 0x94D049BB133111EBULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::uint64_t splitmix64(std::uint64_t x) {
  std::uint64_t z = x + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::uint64_t SplitMix64::next() {
  const std::uint64_t z = splitmix64(state_);
  state_ += 0x9E3779B97F4A7C15ULL;
  return z;
}

std::uint64_t SplitMix64::below(std::uint64_t n) {
  check(n >= 1, "SplitMix64::below: n must be >= 1");
  // 2^64 mod n, computed in 64 bits: the draws under it are the incomplete last block of n values.
  const std::uint64_t threshold = (0 - n) % n;
  for (;;) {
    const std::uint64_t x = next();
    if (x >= threshold) return x % n;
  }
}

std::vector<std::size_t> seeded_permutation(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> permutation(n);
  std::iota(permutation.begin(), permutation.end(), std::size_t{0});
  SplitMix64 rng(seed);
  for (std::size_t i = n; i > 1; --i) std::swap(permutation[i - 1], permutation[rng.below(i)]);
  return permutation;
}

EpochOrder::EpochOrder(std::size_t n, std::uint64_t seed, bool shuffle) : n_(n), seed_(seed), shuffle_(shuffle) {
  check(n >= 1, "EpochOrder: no items");
}

std::size_t EpochOrder::at(std::uint64_t position) {
  const std::uint64_t epoch = position / n_;
  if (permutation_.empty() || epoch != epoch_) {
    if (shuffle_) {
      permutation_ = seeded_permutation(n_, mix_seed(seed_, epoch, RandomStream::DataOrder));
    } else {
      permutation_.resize(n_);
      std::iota(permutation_.begin(), permutation_.end(), std::size_t{0});
    }
    epoch_ = epoch;
  }
  return permutation_[position % n_];
}

}  // namespace illume

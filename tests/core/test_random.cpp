// The portable seeded randomness of util/random.h: the same numbers on every standard library.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "illume/util/random.h"

using namespace illume;

TEST(Random, SplitMix64MatchesTheReferenceSequence) {
  // Vigna's splitmix64.c seeded with 0: its first three outputs.
  SplitMix64 rng(0);
  EXPECT_EQ(rng.next(), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(rng.next(), 0x6E789E6AA1B965F4ULL);
  EXPECT_EQ(rng.next(), 0x06C45D188009454FULL);
}

TEST(Random, StatelessSplitMix64IsTheGeneratorsOutputOfItsState) {
  // The reference sequence's states are 0, 0x9E3779B97F4A7C15, 2 * 0x9E3779B97F4A7C15 (before the
  // increment): the stateless hash of each gives the same three outputs.
  EXPECT_EQ(splitmix64(0), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(splitmix64(0x9E3779B97F4A7C15ULL), 0x6E789E6AA1B965F4ULL);
  EXPECT_EQ(splitmix64(2 * 0x9E3779B97F4A7C15ULL), 0x06C45D188009454FULL);
}

TEST(Random, PermutationIsPinnedAndUniformEnough) {
  // Computed by an independent Python transcription of Fisher-Yates over splitmix64 with rejection
  // of draws below 2^64 mod i (i = n .. 2, swap slot i-1 with the draw).
  EXPECT_EQ(seeded_permutation(10, 0), (std::vector<std::size_t>{6, 3, 2, 9, 8, 1, 4, 7, 0, 5}));
  EXPECT_EQ(seeded_permutation(10, 42), (std::vector<std::size_t>{0, 9, 5, 8, 6, 4, 7, 2, 1, 3}));
  EXPECT_TRUE(seeded_permutation(0, 1).empty());
  EXPECT_EQ(seeded_permutation(1, 1), (std::vector<std::size_t>{0}));
  // Each item lands in each slot about equally often (3 items: 6 orders, 6000 seeds).
  int first[3] = {0, 0, 0};
  std::set<std::vector<std::size_t>> orders;
  for (std::uint64_t seed = 0; seed < 6000; ++seed) {
    auto p = seeded_permutation(3, seed);
    ++first[p[0]];
    orders.insert(p);
  }
  EXPECT_EQ(orders.size(), 6u);
  for (int count : first) EXPECT_NEAR(count, 2000, 150);
}

TEST(Random, BoundedDrawsStayInRange) {
  SplitMix64 rng(7);
  for (std::uint64_t n : {1ULL, 2ULL, 3ULL, 1000ULL, (1ULL << 63) + 1})
    for (int i = 0; i < 100; ++i) EXPECT_LT(rng.below(n), n);
}

TEST(Random, EpochOrderVisitsEveryItemOncePerEpochAndDependsOnlyOnThePosition) {
  EpochOrder a(7, 3), b(7, 3), plain(7, 3, /*shuffle=*/false);
  std::vector<std::size_t> epoch0, epoch1;
  for (std::uint64_t i = 0; i < 7; ++i) epoch0.push_back(a.at(i));
  for (std::uint64_t i = 7; i < 14; ++i) epoch1.push_back(a.at(i));
  auto sorted = epoch0;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_NE(epoch0, epoch1);  // a new permutation each epoch
  EXPECT_EQ(epoch0, seeded_permutation(7, mix_seed(3, 0, RandomStream::DataOrder)));
  // Random access (as after a resume) gives what sequential access gave.
  EXPECT_EQ(b.at(9), epoch1[2]);
  EXPECT_EQ(b.at(1), epoch0[1]);
  EXPECT_EQ(plain.at(10), 3u);
  // Streams and counters give different seeds.
  EXPECT_NE(mix_seed(1, 0, RandomStream::DataOrder), mix_seed(1, 0, RandomStream::Rollouts));
  EXPECT_NE(mix_seed(1, 0, RandomStream::DataOrder), mix_seed(1, 1, RandomStream::DataOrder));
}

#include <gtest/gtest.h>

#include "common.h"
#include "illume/data/countdown_gen.h"
#include "illume/data/tasks.h"
#include "illume/rl/reward/countdown.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;
using namespace illume::data;

namespace {

// The value of a step chain replayed on the multiset of numbers: every step must take two numbers
// still available and put back its (correct) result.
bool replay(std::vector<std::int64_t> pool, const std::vector<CountdownStep>& steps, std::int64_t& value) {
  for (auto& s : steps) {
    auto take = [&](std::int64_t v) {
      auto it = std::find(pool.begin(), pool.end(), v);
      if (it == pool.end()) return false;
      pool.erase(it);
      return true;
    };
    if (!take(s.a) || !take(s.b)) return false;
    std::int64_t r = s.op == '+' ? s.a + s.b : s.op == '-' ? s.a - s.b : s.op == '*' ? s.a * s.b : s.a / s.b;
    if (s.op == '/' && (s.b == 0 || s.a % s.b != 0)) return false;
    if (r != s.result || r <= 0) return false;
    pool.push_back(r);
  }
  if (pool.size() != 1) return false;
  value = pool[0];
  return true;
}

}  // namespace

TEST(CountdownGen, EveryPuzzleIsSolvableAndTheTraceScoresOne) {
  for (const char* difficulty : {"easy", "standard", "hard"}) {
    auto o = countdown_difficulty(difficulty);
    auto set = generate_countdown_set(7, 300, o);
    for (auto& p : set) {
      SCOPED_TRACE(p.to_json().dump());
      ASSERT_GE(static_cast<int>(p.nums.size()), o.min_numbers);
      ASSERT_LE(static_cast<int>(p.nums.size()), o.max_numbers);
      for (auto n : p.nums) {
        EXPECT_GE(n, o.min_number);
        EXPECT_LE(n, o.max_number);
      }
      EXPECT_GE(p.target, o.min_target);
      EXPECT_LE(p.target, o.max_target);
      // An independent solver finds a solution, and the shown one replays to the target.
      EXPECT_FALSE(solve_countdown(p.nums, p.target).empty());
      std::int64_t value = 0;
      ASSERT_TRUE(replay(p.nums, p.solution, value));
      EXPECT_EQ(value, p.target);
      // The trace's final answer is right under the strict reward (all numbers, each once).
      reward::CountdownRewardOptions strict;
      strict.use_all_numbers = true;
      auto r = reward::countdown_reward(p.response, {p.nums, p.target}, strict);
      EXPECT_EQ(r.reward, 1.0) << r.detail;
      // The think block ends with the solution chain marked "yes"; false starts are marked "no".
      EXPECT_EQ(p.response.rfind("<think>\n", 0), 0u);
      EXPECT_NE(p.response.find(" yes\n</think>\n\n<answer>" + p.expression + "</answer>"), std::string::npos);
      if (!o.allow_mul_div) EXPECT_EQ(p.expression.find_first_of("*/"), std::string::npos);
    }
  }
}

TEST(CountdownGen, FalseStartsAreConsistentChainsThatMiss) {
  auto o = countdown_difficulty("hard");
  int seen = 0;
  for (auto& p : generate_countdown_set(3, 100, o)) {
    auto think = p.response.substr(8, p.response.find("\n</think>") - 8);
    std::size_t start = 0;
    while (true) {
      auto end = think.find('\n', start);
      std::string line = think.substr(start, end == std::string::npos ? std::string::npos : end - start);
      bool last = end == std::string::npos;
      EXPECT_EQ(line.substr(line.size() - (last ? 4 : 3)), last ? " yes" : " no") << line;
      if (!last) {
        ++seen;
        // Each false-start step is correct arithmetic and the chain's final value is not the target.
        auto final_eq = line.rfind('=');
        auto final_value = std::stoll(line.substr(final_eq + 1));
        EXPECT_NE(final_value, p.target) << line;
      }
      if (last) break;
      start = end + 1;
    }
  }
  EXPECT_GT(seen, 50);  // hard: up to 3 per trace
}

TEST(CountdownGen, DeterministicPerSeedAndPrefixStable) {
  auto o = countdown_difficulty("standard");
  auto a = generate_countdown_set(42, 50, o);
  auto b = generate_countdown_set(42, 80, o);
  auto c = generate_countdown_set(43, 50, o);
  int differ = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].to_json(), b[i].to_json());
    differ += a[i].to_json() != c[i].to_json();
  }
  EXPECT_GT(differ, 40);
}

TEST(CountdownGen, RowsLoadAsCountdownProblems) {
  auto dir = test::scratch_dir();
  auto path = dir / "gen.jsonl";
  auto r = test::run_illume({"countdown-gen", "--puzzles", "20", "--seed", "5", "--out", path.string(), "--numbers", "4",
                             "--false-starts", "2"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto problems = load_problems(Task::Countdown, path);
  ASSERT_EQ(problems.size(), 20u);
  auto rows = read_jsonl_file(path);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(problems[i].nums.size(), 4u);
    auto score = score_response(Task::Countdown, problems[i], rows[i]["response"].get<std::string>());
    EXPECT_EQ(score.reward, 1.0);
  }
  auto bad = test::run_illume({"countdown-gen", "--puzzles", "2", "--out", path.string(), "--difficulty", "extreme"});
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("unknown difficulty 'extreme'"), std::string::npos) << bad.err;
}

// Synthetic Countdown puzzles with step-by-step solution traces (TinyZero answer format), for SFT of
// illume's default model.
//
// A puzzle: `count` numbers drawn uniformly from [min_number, max_number] (count uniform in
// [min_numbers, max_numbers]); the target is drawn uniformly from the distinct integers in
// [min_target, max_target] that are reachable using ALL numbers, each once, with + - * / where every
// intermediate result is a positive integer (so every generated puzzle is solvable by construction).
// Draws that reach no target in range are redrawn.
//
// The trace (the `response` field) combines two numbers per step, the larger first:
//   <think>
//   44+19=63, 63-35=28 no              <- a false start (0..max_false_starts of them, random chains
//   44+19=63, 63+35=98 yes                using all numbers that miss the target)
//   </think>
//
//   <answer>44+19+35</answer>
// The solution shown is the cheapest chain (fewest * and /, then fewest steps that are not additions)
// in the enumeration order; its expression has only the parentheses precedence needs.
//
// Determinism: puzzle i depends only on (seed, i, options), so the first k rows of n > k rows equal
// the k rows of a shorter run with the same seed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "illume/util/json.h"

namespace illume::data {

struct CountdownGenOptions {
  int min_numbers = 3, max_numbers = 4;
  std::int64_t min_number = 1, max_number = 99;
  std::int64_t min_target = 1, max_target = 99;
  int max_false_starts = 1;      // trace noise: failed chains shown before the solution
  bool allow_mul_div = true;     // false: + and - only
};

// "easy" (3 numbers up to 30, + and -, no false starts), "standard" (3-4 numbers up to 99, all
// operations, up to 1 false start: the shared test set's distribution), "hard" (4 numbers, up to 3
// false starts). Fails for any other name.
CountdownGenOptions countdown_difficulty(const std::string& name);
// Checks ranges; fails with "countdown-gen: ..." for inconsistent options.
void validate(const CountdownGenOptions& options);

struct CountdownStep {
  std::int64_t a = 0, b = 0, result = 0;
  char op = '+';
  std::string text() const;  // "44+19=63"
};

struct CountdownPuzzle {
  std::vector<std::int64_t> nums;
  std::int64_t target = 0;
  std::vector<CountdownStep> solution;  // the chain that reaches target
  std::string expression;               // the solution as one expression, e.g. "(44-19)*3"
  std::string response;                 // the trace (<think>...</think>\n\n<answer>...</answer>)
  Json to_json() const;                 // {"nums", "target", "response", "solution"}
};

CountdownPuzzle generate_countdown(std::uint64_t seed, std::uint64_t index, const CountdownGenOptions& options);
std::vector<CountdownPuzzle> generate_countdown_set(std::uint64_t seed, std::uint64_t count,
                                                    const CountdownGenOptions& options);

// Solves a puzzle the way the generator does (all numbers, positive integer steps); empty if none.
std::vector<CountdownStep> solve_countdown(const std::vector<std::int64_t>& nums, std::int64_t target,
                                           bool allow_mul_div = true);

}  // namespace illume::data

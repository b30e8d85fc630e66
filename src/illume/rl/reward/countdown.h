// The Countdown reward (TinyZero protocol, METHOD.md section 5): the response's last
// <answer>...</answer> must hold an arithmetic expression over the given numbers that equals the
// target exactly.
//
// Decisions (where TinyZero's Python `eval` is loose, we are strict and deterministic):
// - Extraction: the LAST complete pair, found as the last "</answer>" and the last "<answer>" before
//   it; the text between may span lines. Tags are case-sensitive. Unlike TinyZero we do not require
//   an "Assistant:" marker nor look only at the last line: callers pass the generated text only.
// - Grammar (recursive descent, no backtracking, linear time):
//     expression := term { ('+' | '-') term }
//     term       := unary { ('*' | '/') unary }
//     unary      := ('-' | '+') unary | primary
//     primary    := INTEGER | '(' expression ')'
//   INTEGER is ASCII digits with no leading zero ("0" itself is fine; "07" is rejected as Python 3
//   rejects it). Unary minus and plus are ACCEPTED, as Python's eval accepts them; they use no number.
//   Rejected: decimals ("3.0"), "**" and "//" (Python's power and floor division), implicit
//   multiplication ("2(3)"), "=" (so "1 + 2 = 3" is not an answer, as in TinyZero), and every
//   non-ASCII character, including the Unicode minus U+2212, times U+00D7 and divide U+00F7.
//   Whitespace (space, tab, CR, LF, VT, FF) between tokens is ignored.
// - Evaluation is exact (Rational, bound 10^30): (1 + 2) / 3 == 1 with no floating-point tolerance.
//   A literal with more than 30 digits is "out of range" (not a number we accept).
// - Numbers: each leaf must be one of the given numbers, each given number used at most as many times
//   as it appears (a multiset); with use_all_numbers, exactly as many times (TinyZero's rule).
// - Bounds: an answer longer than kCountdownMaxAnswerLength characters, or nesting (parentheses and
//   unary signs) deeper than kCountdownMaxNesting, scores 0 without being evaluated. The response
//   itself may be any size; extraction is linear.
// - Rewards: correct -> correct_reward. "Formatted" means the tag was found and the expression
//   parsed; a formatted but wrong answer (bad numbers, division by zero, wrong result) gets
//   format_reward (TinyZero uses 0.1; default 0). Anything else (no tag, empty, unparseable, too long,
//   too deep, literal out of range) gets 0.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "illume/rl/reward/rational.h"
#include "illume/rl/reward/reward_result.h"

namespace illume::reward {

struct CountdownProblem {
  std::vector<std::int64_t> nums;
  std::int64_t target = 0;
};

struct CountdownRewardOptions {
  bool use_all_numbers = false;  // true: each number exactly once; false: at most once
  double format_reward = 0.0;    // formatted but wrong; TinyZero uses 0.1
  double correct_reward = 1.0;
};

inline constexpr std::size_t kCountdownMaxAnswerLength = 1000;
inline constexpr int kCountdownMaxNesting = 100;

// The text between the last "<answer>" ... "</answer>" pair (not trimmed); nullopt if there is none.
std::optional<std::string_view> extract_last_answer(std::string_view response);

// The expression evaluated, for callers and tests that want more than the reward.
struct CountdownExpression {
  enum class Status { Ok, SyntaxError, TooLong, TooDeep, NumberOutOfRange, DivisionByZero, ResultOutOfRange };
  Status status = Status::Ok;
  Rational value;                        // when status == Ok
  std::vector<Rational::Int> numbers;    // the integer literals in order of appearance (when parsed)
  std::string error;                     // short description when status != Ok
  bool parsed() const { return status == Status::Ok || status == Status::DivisionByZero || status == Status::ResultOutOfRange; }
};

// Parses and evaluates one expression (no tags). Never throws; bounded in time and stack.
CountdownExpression evaluate_countdown_expression(std::string_view expression);

RewardResult countdown_reward(std::string_view response, const CountdownProblem& problem,
                              const CountdownRewardOptions& options = {});

}  // namespace illume::reward

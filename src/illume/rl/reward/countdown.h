// The Countdown reward (METHOD.md section 5). Two rules, chosen by CountdownRewardOptions::rule:
//
// CountdownRule::TinyZero (the default; the paper's protocol): TinyZero's compute_score in
// verl/utils/reward_score/countdown.py, reproduced decision for decision (countdown_tinyzero.cpp):
// - Extraction: the response's LAST LINE (the text after its last '\n'; a response that ends with a
//   newline has an empty last line), then the last non-overlapping match of the regular expression
//   <answer>(.*?)</answer> on it, stripped of whitespace as Python's str.strip() strips it (Unicode
//   spaces included). TinyZero first drops everything up to "Assistant:" in prompt + response; we
//   are given the response alone, so there is nothing to drop. No match: reward 0 (not formatted).
// - Numbers: every run of ASCII digits in the answer is a number (re.findall(r'\d+'), leading zeros
//   ignored as int() ignores them: "1.5" uses 1 and 5); sorted, they must equal the sorted given
//   numbers: every given number used exactly once. Otherwise format_reward (0.1).
// - Evaluation: the answer as Python's eval(...) reads it, restricted as TinyZero restricts it (only
//   digits, + - * / ( ) . and whitespace), so "**" (power), "//" (floor division), decimals
//   ("2.5", "3.", ".5"), unary signs and redundant parentheses all count; "07" (a leading zero),
//   "1..5", "()" and "2(3)" do not. Arithmetic is exact on rationals; a value that outgrows them
//   continues in long double, and a negative number raised to a fractional power becomes complex,
//   as in Python. Division by zero, a syntax error or a character outside that set: format_reward.
// - Correct when |value - target| < 1e-5 (TinyZero's tolerance, applied exactly): correct_reward
//   (1.0); else format_reward.
// - Safety where Python's eval has none: no recursion but parentheses, at most
//   kPythonMaxParentheses deep (CPython's own tokenizer limit, so "more" is Python's SyntaxError
//   too); powers with huge exponents go to long double at once (Python would hang computing
//   99**98**97); time is linear in the response length whatever it holds. Sign chains have no
//   depth limit here (CPython 3.11 gives up near 3000 nested signs; no answer has that many).
// - use_all_numbers is ignored (TinyZero always requires every number).
//
// CountdownRule::Lenient (illume's earlier rule, kept by name): the response's last
// <answer>...</answer> must hold an arithmetic expression over the given numbers (by default a
// subset) that equals the target exactly. Its decisions (countdown.cpp):
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
//   format_reward (default 0 for this rule). Anything else (no tag, empty, unparseable, too long,
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

enum class CountdownRule { TinyZero, Lenient };

// "tinyzero" | "lenient" (case-insensitive); fails with "unknown countdown rule 'x' (valid: ...)".
CountdownRule parse_countdown_rule(std::string_view name);
std::string countdown_rule_name(CountdownRule rule);

struct CountdownRewardOptions {
  CountdownRule rule = CountdownRule::TinyZero;
  bool use_all_numbers = false;         // Lenient: true = each number exactly once, false = at most once
  std::optional<double> format_reward;  // formatted but wrong; unset: the rule's own (TinyZero 0.1, Lenient 0)
  double correct_reward = 1.0;
};

// The reward for a formatted but wrong answer under these options.
double countdown_format_reward(const CountdownRewardOptions& options);

inline constexpr std::size_t kCountdownMaxAnswerLength = 1000;
inline constexpr int kCountdownMaxNesting = 100;

// Lenient: the text between the last "<answer>" ... "</answer>" pair (not trimmed); nullopt if none.
std::optional<std::string_view> extract_last_answer(std::string_view response);

// TinyZero: the last <answer>(.*?)</answer> match on the response's last line, stripped as Python
// strips; nullopt if none.
std::optional<std::string_view> extract_tinyzero_answer(std::string_view response);

inline constexpr int kPythonMaxParentheses = 200;

// A value of TinyZero's restricted Python arithmetic: exact while it fits a Rational, else long
// double (Python computes in floats anyway), complex after a negative number is raised to a
// fractional power.
struct PythonNumber {
  enum class Kind { Exact, Real, Complex };
  Kind kind = Kind::Exact;
  Rational exact;               // Kind::Exact
  long double real = 0, imaginary = 0;  // Kind::Real (imaginary 0) and Kind::Complex
  std::string to_string() const;        // "7/2", "1.41421", "(1+1.73205j)"
};

struct PythonArithmetic {
  std::optional<PythonNumber> value;  // nullopt when Python's eval would raise
  std::string error;                  // why not, e.g. "division by zero", "syntax error at offset 3: ..."
};

// Evaluates one expression as Python's eval does over digits, + - * / ( ) . and whitespace (the
// characters TinyZero lets through). Never throws; linear time; recursion only per parenthesis.
PythonArithmetic evaluate_python_arithmetic(std::string_view expression);

// Whether |value - target| < 1e-5, TinyZero's test (exact for exact values).
bool python_close_to(const PythonNumber& value, std::int64_t target);

// The expression evaluated, for callers and tests that want more than the reward.
struct CountdownExpression {
  enum class Status { Ok, SyntaxError, TooLong, TooDeep, NumberOutOfRange, DivisionByZero, ResultOutOfRange };
  Status status = Status::Ok;
  Rational value;                        // when status == Ok
  std::vector<Rational::Int> numbers;    // the integer literals in order of appearance (when parsed)
  std::string error;                     // short description when status != Ok
  bool parsed() const { return status == Status::Ok || status == Status::DivisionByZero || status == Status::ResultOutOfRange; }
};

// Lenient: parses and evaluates one expression (no tags). Never throws; bounded in time and stack.
CountdownExpression evaluate_countdown_expression(std::string_view expression);

// Scores one response under options.rule. RewardResult::formatted: an answer was extracted (TinyZero)
// or extracted and parsed (Lenient).
RewardResult countdown_reward(std::string_view response, const CountdownProblem& problem,
                              const CountdownRewardOptions& options = {});
// The rules themselves (options.rule is not looked at).
RewardResult tinyzero_countdown_reward(std::string_view response, const CountdownProblem& problem,
                                       const CountdownRewardOptions& options);
RewardResult lenient_countdown_reward(std::string_view response, const CountdownProblem& problem,
                                      const CountdownRewardOptions& options);

}  // namespace illume::reward

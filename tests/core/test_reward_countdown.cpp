// The Countdown reward: exact rational arithmetic, the lenient rule's table-driven corpus (ordinary and
// adversarial answers), TinyZero's rule on hand-written cases of its Python function, and every
// problem of the first 200 test rows solved by a brute-force solver.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common.h"
#include "illume/data/tasks.h"
#include "illume/rl/reward/countdown.h"
#include "illume/rl/reward/rational.h"

using namespace illume;
using namespace illume::reward;

namespace {

std::string repeat(std::string_view s, std::size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

std::string tag(std::string_view expression) { return "<answer>" + std::string(expression) + "</answer>"; }

// Deterministic pseudo-random bytes (all 256 values, NUL included).
std::string garbage(std::size_t size, std::uint32_t seed) {
  std::string out(size, '\0');
  for (auto& c : out) {
    seed = seed * 1664525u + 1013904223u;
    c = static_cast<char>(seed >> 24);
  }
  return out;
}

Rational rational(std::int64_t n, std::int64_t d) { return *Rational::make(n, d); }

}  // namespace

// ---- Rational ------------------------------------------------------------------------------------

TEST(Rational, ReducesAndNormalisesSign) {
  auto r = Rational::make(6, -4);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->to_string(), "-3/2");
  EXPECT_EQ(Rational::make(0, -7)->to_string(), "0");
  EXPECT_FALSE(Rational::make(1, 0));
  EXPECT_EQ(rational(10, 5), Rational(2));
}

TEST(Rational, ArithmeticIsExact) {
  auto third = rational(1, 3);
  auto two_thirds = add(third, third);
  ASSERT_TRUE(two_thirds.ok());
  auto one = add(two_thirds.value, third);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one.value, Rational(1));
  EXPECT_EQ(subtract(Rational(3), Rational(5)).value, Rational(-2));
  EXPECT_EQ(multiply(rational(2, 3), rational(9, 4)).value, rational(3, 2));
  EXPECT_EQ(divide(Rational(8), *Rational::make(8, 3)).value, Rational(3));
  EXPECT_EQ(divide(Rational(1), Rational(0)).error, ArithmeticError::DivisionByZero);
}

TEST(Rational, OutOfRangeIsReportedNotWrapped) {
  auto big = *Rational::make(Rational::kLimit, 1);
  EXPECT_EQ(add(big, Rational(1)).error, ArithmeticError::OutOfRange);
  EXPECT_EQ(multiply(big, big).error, ArithmeticError::OutOfRange);
  EXPECT_EQ(divide(Rational(1), big).value.denominator(), Rational::kLimit);
  EXPECT_EQ(add(big, Rational(-1)).error, ArithmeticError::None);
  auto r = Rational(INT64_MAX);
  for (int i = 0; i < 3; ++i) r = multiply(r, Rational(2)).value;  // 2^66, fine
  EXPECT_EQ(multiply(r, Rational(INT64_MAX)).error, ArithmeticError::OutOfRange);
}

TEST(Rational, ParseDecimal) {
  EXPECT_EQ(parse_decimal("1.25")->to_string(), "5/4");
  EXPECT_EQ(parse_decimal("-.5")->to_string(), "-1/2");
  EXPECT_EQ(parse_decimal("007")->to_string(), "7");
  EXPECT_EQ(parse_decimal("3.")->to_string(), "3");
  EXPECT_EQ(parse_decimal("0.0000672")->to_string(), "21/312500");
  EXPECT_EQ(parse_decimal("27.000000000000000000000000000000000000")->to_string(), "27");
  EXPECT_FALSE(parse_decimal(""));
  EXPECT_FALSE(parse_decimal("."));
  EXPECT_FALSE(parse_decimal("1e5"));
  EXPECT_FALSE(parse_decimal("1.2.3"));
  EXPECT_FALSE(parse_decimal(" 1"));
  EXPECT_FALSE(parse_decimal("1" + std::string(200, '0')));
  EXPECT_TRUE(parse_decimal(std::string(30, '9')));
  EXPECT_FALSE(parse_decimal(std::string(31, '9')));
  EXPECT_EQ(int128_to_string(-Rational::kLimit), "-1000000000000000000000000000000");
}

// ---- the corpus -------------------------------------------------------------------------------------

namespace {

enum Outcome { Correct, Wrong, Unformatted };  // reward 1, format reward (0.1 here), 0

struct CountdownCase {
  std::string name;
  std::string response;
  std::vector<std::int64_t> nums;
  std::int64_t target;
  Outcome outcome;
  std::string detail;  // a substring of RewardResult::detail
  bool use_all = false;
};

std::vector<CountdownCase> countdown_corpus() {
  const std::vector<std::int64_t> n1234 = {1, 2, 3, 4};
  std::vector<CountdownCase> c = {
      // -- correct
      {"sum of all", tag("1+2+3+4"), n1234, 10, Correct, "correct"},
      {"spaces", tag(" (1 + 2) * 3 + 4 "), n1234, 13, Correct, "correct"},
      {"newlines and tabs", tag("\n(1+2)\t*3\r\n"), n1234, 9, Correct, "correct"},
      {"exact division", tag("(6 / 4) * 2"), {6, 4, 2}, 3, Correct, "correct"},
      {"rational intermediate 8/(3-8/3)", tag("8 / (3 - 8 / 3)"), {8, 3, 8, 3}, 24, Correct, "correct"},
      {"prompt's example", tag(" (1 + 2) / 3 "), {1, 2, 3}, 1, Correct, "correct"},
      {"unary minus accepted", tag("-3 + 5"), {3, 5}, 2, Correct, "correct"},
      {"minus minus", tag("5 - -3"), {5, 3}, 8, Correct, "correct"},
      {"unary plus accepted", tag("+5 + 3"), {5, 3}, 8, Correct, "correct"},
      {"negated group", tag("-(3 - 5) * 4"), {3, 5, 4}, 8, Correct, "correct"},
      {"subset allowed by default", tag("2*3"), n1234, 6, Correct, "correct"},
      {"use_all satisfied", tag("4*(3-1)+2"), n1234, 10, Correct, "correct", true},
      {"multiset duplicate", tag("5*5-2"), {5, 5, 2}, 23, Correct, "correct"},
      {"duplicates with use_all", tag("5*5-2"), {5, 5, 2}, 23, Correct, "correct", true},
      {"last tag wins", tag("1+1") + " wait, no: " + tag("2*3"), {2, 3, 1}, 6, Correct, "correct"},
      {"text around tags", "<think>try 2+3... no</think> So " + tag("2*3") + " done.", {2, 3}, 6, Correct, "correct"},
      {"redundant parentheses", tag("((((1+2))))*3"), {1, 2, 3}, 9, Correct, "correct"},
      {"division to integer", tag("100/4"), {100, 4}, 25, Correct, "correct"},
      {"zero is a number", tag("5+0"), {0, 5}, 5, Correct, "correct"},
      {"nested open tag: last <answer> before last </answer>", "<answer>1+" + tag("2"), {1, 2}, 2, Correct, "correct"},
      {"NUL bytes outside the tag", std::string("\0\0", 2) + tag("1+2") + std::string("\0", 1), {1, 2}, 3, Correct,
       "correct"},
      {"invalid UTF-8 outside the tag", "\xff\xfe\xc3" + tag("1+2") + "\x80", {1, 2}, 3, Correct, "correct"},
      {"multiline answer", tag("(96 - 74)\n+ 37\n- 7\n+ 0"), {96, 74, 37, 7, 0}, 52, Correct, "correct"},
      {"nesting at the bound", tag(repeat("(", 100) + "1+2" + repeat(")", 100)), {1, 2}, 3, Correct, "correct"},
      {"ellipsis in the answer", tag("(96 - 74 + 37) - ..."), {96, 7, 37, 74}, 55, Unformatted, "unexpected '.'"},
      // -- formatted but wrong: format reward
      {"wrong result", tag("1+2"), n1234, 10, Wrong, "result 3 != 10"},
      {"rational result", tag("7/2"), {7, 2}, 3, Wrong, "result 7/2 != 3"},
      {"negative result", tag("1-4"), {1, 4}, 3, Wrong, "result -3 != 3"},
      {"number not given", tag("13+2"), {1, 2, 3}, 15, Wrong, "uses 13, which is not in [1, 2, 3]"},
      {"number used twice", tag("3*3"), {3, 4}, 9, Wrong, "uses 3 twice"},
      {"used more than given", tag("5+5+5"), {5, 5}, 15, Wrong, "uses 5 3 times but it is given 2 times"},
      {"use_all: one unused", tag("2*3"), {1, 2, 3}, 6, Wrong, "does not use 1", true},
      {"use_all: duplicate unused", tag("5*2"), {5, 5, 2}, 10, Wrong, "uses 5 1 times but it is given 2 times", true},
      {"division by zero", tag("4/(2-2)"), {4, 2, 2}, 4, Wrong, "division by zero"},
      {"zero over zero", tag("(3-3)/(2-2)"), {3, 3, 2, 2}, 0, Wrong, "division by zero"},
      {"bad numbers reported before division by zero", tag("9/(2-2)"), {2, 2}, 1, Wrong, "uses 9"},
      {"first answer right, last wrong", tag("2*3") + tag("2+3"), {2, 3}, 6, Wrong, "result 5 != 6"},
      {"30-digit literal in range but not given", tag(std::string(30, '9')), {9}, 9, Wrong, "which is not in [9]"},
      {"intermediate out of range", tag("1000000000000000*1000000000000000*1000000000000000"),
       {1000000000000000, 1000000000000000, 1000000000000000}, 1, Wrong, "intermediate result out of range"},
      {"large but fine", tag("99999999999*99999999999"), {99999999999, 99999999999}, 5, Wrong,
       "result 9999999999800000000001 != 5"},
      // -- not formatted: 0
      {"no tag", "The answer is 1+2+3+4 = 10", n1234, 10, Unformatted, "no <answer> tag"},
      {"only an open tag", "<answer>1+2+3+4", n1234, 10, Unformatted, "no <answer> tag"},
      {"only a close tag", "1+2+3+4</answer>", n1234, 10, Unformatted, "no <answer> tag"},
      {"tags reversed", "</answer>1+2+3+4<answer>", n1234, 10, Unformatted, "no <answer> tag"},
      {"tags are case-sensitive", "<ANSWER>1+2+3+4</ANSWER>", n1234, 10, Unformatted, "no <answer> tag"},
      {"malformed close tag", "<answer>1+2+3+4</answer >", n1234, 10, Unformatted, "no <answer> tag"},
      {"empty answer", tag(""), n1234, 10, Unformatted, "empty answer"},
      {"blank answer", tag("  \n\t "), n1234, 10, Unformatted, "empty answer"},
      {"equation with =", tag("1+2+3+4=10"), n1234, 10, Unformatted, "unexpected '='"},
      {"decimal literal", tag("2.5*4"), {2, 4}, 10, Unformatted, "only integers"},
      {"python power", tag("2**3"), {2, 3}, 8, Unformatted, "syntax error"},
      {"python floor division", tag("7//2"), {7, 2}, 3, Unformatted, "syntax error"},
      {"implicit multiplication", tag("2(3+4)"), {2, 3, 4}, 14, Unformatted, "unexpected '('"},
      {"unbalanced open parenthesis", tag("(1+2"), {1, 2}, 3, Unformatted, "unexpected end"},
      {"unbalanced close parenthesis", tag("1+2)"), {1, 2}, 3, Unformatted, "unexpected ')'"},
      {"empty parentheses", tag("()"), {1}, 1, Unformatted, "unexpected ')'"},
      {"trailing operator", tag("1+"), {1}, 1, Unformatted, "unexpected end"},
      {"leading operator", tag("*1"), {1}, 1, Unformatted, "unexpected '*'"},
      {"leading zero", tag("07+3"), {7, 3}, 10, Unformatted, "leading zero"},
      {"unicode minus rejected", tag("5 \xE2\x88\x92 3"), {5, 3}, 2, Unformatted, "byte 0xE2"},
      {"unicode times rejected", tag("5 \xC3\x97 3"), {5, 3}, 15, Unformatted, "byte 0xC3"},
      {"unicode divide rejected", tag("6 \xC3\xB7 3"), {6, 3}, 2, Unformatted, "byte 0xC3"},
      {"fullwidth digit rejected", tag("\xEF\xBC\x95+3"), {5, 3}, 8, Unformatted, "byte 0xEF"},
      {"letters", tag("a+b"), {1, 2}, 3, Unformatted, "unexpected 'a'"},
      {"x as times", tag("2 x 3"), {2, 3}, 6, Unformatted, "unexpected 'x'"},
      {"comma", tag("1,2"), {1, 2}, 3, Unformatted, "unexpected ','"},
      {"square brackets", tag("[1+2]"), {1, 2}, 3, Unformatted, "unexpected '['"},
      {"NUL byte inside", tag(std::string("1+\0 2", 5)), {1, 2}, 3, Unformatted, "byte 0x00"},
      {"invalid UTF-8 inside", tag("1+\xff"), {1}, 1, Unformatted, "byte 0xFF"},
      {"10^200 literal", tag("1" + std::string(200, '0')), {1}, 1, Unformatted, "out of range"},
      {"31-digit literal", tag(std::string(31, '9')), {9}, 9, Unformatted, "out of range"},
      {"nesting above the bound", tag(repeat("(", 150) + "1" + repeat(")", 150)), {1}, 1, Unformatted,
       "nesting deeper than 100"},
      {"unary chain above the bound", tag(repeat("-", 200) + "1"), {1}, 1, Unformatted, "nesting deeper than 100"},
      {"10^5 nested parentheses", tag(repeat("(", 100000) + "1" + repeat(")", 100000)), {1}, 1, Unformatted,
       "answer too long"},
      {"10^5 open parentheses only", tag(repeat("(", 100000)), {1}, 1, Unformatted, "answer too long"},
      {"answer just over the length cap", tag(repeat("1+", 500) + "1"), {1}, 1, Unformatted, "answer too long"},
      {"1 MB of garbage", garbage(1 << 20, 1), n1234, 10, Unformatted, "no <answer> tag"},
      {"1 MB of garbage inside the tag", tag(garbage(1 << 20, 2)), n1234, 10, Unformatted, "answer too long"},
      {"1 MB of garbage before the answer", garbage(1 << 20, 3) + tag("1+2+3+4"), n1234, 10, Correct, "correct"},
  };
  // 10^5 answer tags, the last one right.
  c.push_back({"10^5 tags, last right", repeat(tag("1+1"), 100000) + tag("1+2+3+4"), n1234, 10, Correct, "correct"});
  c.push_back({"10^5 tags, last wrong", tag("1+2+3+4") + repeat(tag("1+2"), 100000), n1234, 10, Wrong, "result 3"});
  c.push_back({"10^5 open tags and one pair", repeat("<answer>", 100000) + "1+2+3+4</answer>", n1234, 10, Correct,
               "correct"});
  c.push_back({"10^5 close tags", repeat("</answer>", 100000), n1234, 10, Unformatted, "no <answer> tag"});
  return c;
}

}  // namespace

TEST(CountdownReward, Corpus) {
  auto corpus = countdown_corpus();
  EXPECT_GE(corpus.size(), 60u);
  auto start = std::chrono::steady_clock::now();
  for (const auto& c : corpus) {
    CountdownRewardOptions options;
    options.rule = CountdownRule::Lenient;
    options.format_reward = 0.1;
    options.use_all_numbers = c.use_all;
    RewardResult r = countdown_reward(c.response, CountdownProblem{c.nums, c.target}, options);
    double expected = c.outcome == Correct ? 1.0 : c.outcome == Wrong ? 0.1 : 0.0;
    EXPECT_EQ(r.reward, expected) << c.name << ": " << r.detail;
    EXPECT_EQ(r.correct, c.outcome == Correct) << c.name;
    EXPECT_EQ(r.formatted, c.outcome != Unformatted) << c.name;
    EXPECT_NE(r.detail.find(c.detail), std::string::npos) << c.name << ": detail '" << r.detail << "'";
    EXPECT_LT(r.detail.size(), 200u) << c.name;
    // Deterministic: the same input gives the same result.
    RewardResult again = countdown_reward(c.response, CountdownProblem{c.nums, c.target}, options);
    EXPECT_EQ(again.reward, r.reward);
    EXPECT_EQ(again.detail, r.detail);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 20.0) << "the corpus, megabyte cases included, must score quickly";
}

TEST(CountdownReward, LenientDefaultsGiveNoFormatReward) {
  CountdownRewardOptions lenient;
  lenient.rule = CountdownRule::Lenient;
  RewardResult r = countdown_reward(tag("1+2"), CountdownProblem{{1, 2}, 4}, lenient);
  EXPECT_EQ(r.reward, 0.0);
  EXPECT_TRUE(r.formatted);
  EXPECT_FALSE(r.correct);
  CountdownRewardOptions options = lenient;
  options.correct_reward = 2.5;
  EXPECT_EQ(countdown_reward(tag("1+3"), CountdownProblem{{1, 3}, 4}, options).reward, 2.5);
}

TEST(CountdownReward, ExtractAndEvaluate) {
  EXPECT_EQ(extract_last_answer("a<answer>x</answer>b<answer> y </answer>c"), " y ");
  EXPECT_FALSE(extract_last_answer("<answer>"));
  auto e = evaluate_countdown_expression("(7 - 3) * 2 / 8");
  ASSERT_EQ(e.status, CountdownExpression::Status::Ok);
  EXPECT_EQ(e.value, Rational(1));
  ASSERT_EQ(e.numbers.size(), 4u);
  EXPECT_EQ(static_cast<long long>(e.numbers[3]), 8);
  EXPECT_EQ(evaluate_countdown_expression("1/0").status, CountdownExpression::Status::DivisionByZero);
  EXPECT_EQ(evaluate_countdown_expression("1/").status, CountdownExpression::Status::SyntaxError);
}

// ---- TinyZero's rule (the default) ------------------------------------------------------------------

namespace {

struct TinyZeroCase {
  std::string name;
  std::string response;
  std::vector<std::int64_t> nums;
  std::int64_t target;
  double tinyzero;  // compute_score(...) of TinyZero's countdown.py (format_score 0.1)
  double lenient;   // the lenient rule with its defaults (at most once each, format reward 0)
};

// Hand-written cases of TinyZero's compute_score (verl/utils/reward_score/countdown.py, quoted in
// METHOD.md section 5): the expected values follow its four steps (last line, regex, sorted digit
// runs == sorted numbers, Python eval with abs(result - target) < 1e-5), and were checked against
// that function run under CPython 3.11. Where `lenient` differs, the case fails on the lenient rule,
// which was the default before TinyZero's.
std::vector<TinyZeroCase> tinyzero_cases() {
  return {
      {"prompt's example on the last line", "<think>1+2=3, 3/3=1 yes</think>\n" + tag(" (1 + 2) / 3 "), {1, 2, 3}, 1, 1.0, 1.0},
      {"answer not on the last line", tag("1+2+3") + "\nDone.", {1, 2, 3}, 6, 0.0, 1.0},
      {"trailing newline: the last line is empty", tag("1+2+3") + "\n", {1, 2, 3}, 6, 0.0, 1.0},
      {"answer split over lines", tag("1+2\n+3"), {1, 2, 3}, 6, 0.0, 1.0},
      {"a subset of the numbers", tag("1+2"), {1, 2, 3}, 3, 0.1, 1.0},
      {"a number used twice", tag("3*3"), {3, 4}, 9, 0.1, 0.0},
      {"equation with = (the target's digits are numbers too)", tag("1+2+3=6"), {1, 2, 3}, 6, 0.1, 0.0},
      {"empty answer", tag(""), {1, 2}, 3, 0.1, 0.0},
      {"blank answer", tag("   "), {1, 2}, 3, 0.1, 0.0},
      {"decimal literal 2.5 uses 2 and 5", tag("2.5*4"), {2, 5, 4}, 10, 1.0, 0.0},
      {"python power", tag("2**3"), {2, 3}, 8, 1.0, 0.0},
      {"power is right-associative", tag("2**3**2"), {2, 3, 2}, 512, 1.0, 0.0},
      {"unary minus binds looser than power", tag("-2**2+8"), {2, 2, 8}, 4, 1.0, 0.0},
      {"negative exponent", tag("2**-1*4"), {2, 1, 4}, 2, 1.0, 0.0},
      {"zero to the zero", tag("0**0"), {0, 0}, 1, 1.0, 0.0},
      {"zero to a negative power", tag("0**-1+2"), {0, 1, 2}, 2, 0.1, 0.0},
      {"python floor division", tag("7//2"), {7, 2}, 3, 1.0, 0.0},
      {"floor division rounds down", tag("(-7)//2+8"), {7, 2, 8}, 4, 1.0, 0.0},
      {"leading zero: validated as 7, then Python's SyntaxError", tag("07+3"), {7, 3}, 10, 0.1, 0.0},
      {"leading zeros are fine in a float", tag("00000.5*2"), {0, 5, 2}, 1, 1.0, 0.0},
      {"float forms 1. and .5", tag("1.+.5*2"), {1, 5, 2}, 2, 1.0, 0.0},
      {"1..5 is two numbers side by side", tag("1..5"), {1, 5}, 1, 0.1, 0.0},
      {"within 1e-5 counts as correct", tag("(1000000+1)/1000000"), {1000000, 1, 1000000}, 1, 1.0, 0.0},
      {"exactly 1e-5 away is wrong", tag("(100000+1)/100000"), {100000, 1, 100000}, 1, 0.1, 0.0},
      {"exact rational intermediate", tag("8/(3-8/3)"), {8, 3, 8, 3}, 24, 1.0, 1.0},
      {"Unicode spaces are stripped", tag("\xC2\xA0" "1+2\xE3\x80\x80"), {1, 2}, 3, 1.0, 0.0},
      {"control separators are stripped", tag("\x1c" "1+2\x1f"), {1, 2}, 3, 1.0, 0.0},
      {"the regex matches from the first <answer>", tag("1+<answer>2"), {1, 2}, 2, 0.1, 1.0},
      {"last of two matches on the line", tag("9*9") + " or " + tag("1+2"), {1, 2}, 3, 1.0, 1.0},
      {"division by zero", tag("4/(2-2)"), {4, 2, 2}, 4, 0.1, 0.0},
      {"empty parentheses", tag("(1+2)*()"), {1, 2}, 3, 0.1, 0.0},
      {"call syntax (1)(2)", tag("(1)(2)"), {1, 2}, 2, 0.1, 0.0},
      {"Unicode minus passes validation, fails eval", tag("5 \xE2\x88\x92 3"), {5, 3}, 2, 0.1, 0.0},
      {"letters fail the allowed pattern", tag("1+2 a"), {1, 2}, 3, 0.1, 0.0},
      {"negative base to a fractional power is complex", tag("((-8)**(1/3))**6"), {8, 1, 3, 6}, 64, 1.0, 0.0},
      {"exact root", tag("4**(1/2)"), {4, 1, 2}, 2, 1.0, 0.0},
      {"irrational powers in floating point", tag("2**(1/2)*2**(1/2)"), {2, 1, 2, 2, 1, 2}, 2, 1.0, 0.0},
      {"carriage return inside parentheses", tag("(1+\r2)"), {1, 2}, 3, 1.0, 1.0},
      {"carriage return outside parentheses", tag("1+\r2"), {1, 2}, 3, 0.1, 1.0},
      {"form feed is a space", tag("1+\f2"), {1, 2}, 3, 1.0, 1.0},
      {"vertical tab is not", tag("1+\v2"), {1, 2}, 3, 0.1, 1.0},
      {"200 nested parentheses", tag(repeat("(", 200) + "1+2" + repeat(")", 200)), {1, 2}, 3, 1.0, 0.0},
      {"201 nested parentheses: Python's limit", tag(repeat("(", 201) + "1+2" + repeat(")", 201)), {1, 2}, 3, 0.1, 0.0},
      {"500 unary minus signs", tag(repeat("-", 500) + "1+2"), {1, 2}, 3, 1.0, 0.0},
      {"a megabyte of spaces inside the answer", tag("1" + std::string(1 << 20, ' ') + "+2"), {1, 2}, 3, 1.0, 0.0},
      {"a thousand leading zeros: validated, then SyntaxError", tag(std::string(1000, '0') + "1+2"), {1, 2}, 3, 0.1, 0.0},
      {"a 40-digit number", tag(std::string(40, '9') + "+1"), {1, 2}, 3, 0.1, 0.0},
      {"wrong result", tag("1+2*3"), {1, 2, 3}, 9, 0.1, 0.0},
      {"no tag", "the answer is 1+2", {1, 2}, 3, 0.0, 0.0},
      {"tags are case-sensitive", "<ANSWER>1+2</ANSWER>", {1, 2}, 3, 0.0, 0.0},
  };
}

// Inputs on which Python's eval hangs or exhausts memory; scored as Python would score them given
// unbounded time (or its exception would), and quickly.
std::vector<TinyZeroCase> tinyzero_hostile_cases() {
  return {
      {"99**98**97 (astronomically large)", tag("99**98**97"), {99, 98, 97}, 1, 0.1, 0.0},
      {"1 to an astronomical power", tag("1**99**98**97"), {1, 99, 98, 97}, 1, 1.0, 0.0},
      {"a half to a huge power is 0", tag("0.5**(99**98)"), {0, 5, 99, 98}, 0, 1.0, 0.0},
      {"huge over huge", tag("99**98/99**97"), {99, 98, 99, 97}, 99, 1.0, 0.0},
      {"huge minus huge", tag("99**98-99**98+5"), {99, 98, 99, 98, 5}, 5, 1.0, 0.0},
      {"a huge negative power", tag("-(99**98)**99"), {99, 98, 99}, 1, 0.1, 0.0},
      {"10^5 nested parentheses", tag(repeat("(", 100000) + "1+2" + repeat(")", 100000)), {1, 2}, 3, 0.1, 0.0},
      {"10^5 unclosed parentheses", tag(repeat("(", 100000) + "1+2"), {1, 2}, 3, 0.1, 0.0},
      {"10^5 closing parentheses", tag("1+2" + repeat(")", 100000)), {1, 2}, 3, 0.1, 0.0},
      // Deliberately no depth limit on signs (countdown.h): CPython 3.11 stops near 3000 (0.1).
      {"10^6 unary signs", tag(repeat("-+", 500000) + "1+2"), {1, 2}, 3, 1.0, 0.0},
      {"10^5 tags on the last line, the last right", repeat(tag("1+1"), 100000) + tag("1+2"), {1, 2}, 3, 1.0, 1.0},
      {"10^5 open tags and one close", repeat("<answer>", 100000) + "1+2</answer>", {1, 2}, 3, 0.1, 1.0},
      {"a megabyte of garbage lines before the answer", garbage(1 << 20, 7) + "\n" + tag("1+2"), {1, 2}, 3, 1.0, 1.0},
      {"a megabyte of garbage (with line breaks) inside the tag", tag(garbage(1 << 20, 8)), {1, 2}, 3, 0.0, 0.0},
      {"10^5 numbers", tag(repeat("1+", 100000) + "1"), {1, 1}, 2, 0.1, 0.0},
      {"NUL bytes", tag(std::string("1+\0" "2", 4)), {1, 2}, 3, 0.1, 0.0},
  };
}

}  // namespace

TEST(CountdownTinyZero, HandWrittenCasesOfTinyZerosFunction) {
  auto cases = tinyzero_cases();
  auto hostile = tinyzero_hostile_cases();
  cases.insert(cases.end(), hostile.begin(), hostile.end());
  auto start = std::chrono::steady_clock::now();
  int differing = 0;
  for (const auto& c : cases) {
    RewardResult r = countdown_reward(c.response, CountdownProblem{c.nums, c.target});  // the default rule
    EXPECT_EQ(r.reward, c.tinyzero) << c.name << ": " << r.detail;
    EXPECT_EQ(r.correct, c.tinyzero == 1.0) << c.name;
    EXPECT_EQ(r.formatted, c.tinyzero > 0.0) << c.name;
    EXPECT_LT(r.detail.size(), 300u) << c.name;
    CountdownRewardOptions lenient;
    lenient.rule = CountdownRule::Lenient;
    EXPECT_EQ(countdown_reward(c.response, CountdownProblem{c.nums, c.target}, lenient).reward, c.lenient) << c.name;
    differing += c.tinyzero != c.lenient;
  }
  EXPECT_GT(differing, 40) << "most cases tell the rules apart";
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 20.0) << "hostile answers must score quickly";
}

TEST(CountdownTinyZero, DetailsAndOptions) {
  CountdownProblem problem{{1, 2, 3}, 6};
  EXPECT_EQ(countdown_reward(tag("1+2+3") + "\n", problem).detail, "no <answer>...</answer> on the last line");
  EXPECT_EQ(countdown_reward(tag("1+2"), problem).detail, "numbers [1, 2] are not the given [1, 2, 3]");
  EXPECT_EQ(countdown_reward(tag("1*2*3*1"), problem).detail, "numbers [1, 1, 2, 3] are not the given [1, 2, 3]");
  EXPECT_EQ(countdown_reward(tag("1+2-3"), problem).detail, "result 0 != 6");
  EXPECT_EQ(countdown_reward(tag("(1+2)/(3-3)"), CountdownProblem{{1, 2, 3, 3}, 6}).detail, "division by zero");
  EXPECT_NE(countdown_reward(tag("1+2+3 a"), problem).detail.find("unexpected 'a'"), std::string::npos);
  EXPECT_EQ(countdown_reward(tag("1+2+3"), problem).detail, "correct");
  // The format reward and the correct reward are options; use_all_numbers does not loosen TinyZero.
  CountdownRewardOptions options;
  options.format_reward = 0.0;
  options.correct_reward = 2.0;
  options.use_all_numbers = false;
  EXPECT_EQ(countdown_reward(tag("1+2"), CountdownProblem{{1, 2, 3}, 3}, options).reward, 0.0);
  EXPECT_EQ(countdown_reward(tag("1+2+3"), problem, options).reward, 2.0);
  EXPECT_EQ(countdown_format_reward({}), 0.1);
  CountdownRewardOptions lenient;
  lenient.rule = CountdownRule::Lenient;
  EXPECT_EQ(countdown_format_reward(lenient), 0.0);
  EXPECT_EQ(parse_countdown_rule("TinyZero"), CountdownRule::TinyZero);
  EXPECT_EQ(parse_countdown_rule("lenient"), CountdownRule::Lenient);
  EXPECT_EQ(countdown_rule_name(CountdownRule::TinyZero), "tinyzero");
  EXPECT_EQ(test::error_of([] { parse_countdown_rule("strict"); }),
            "unknown countdown rule 'strict' (valid: tinyzero, lenient)");
}

TEST(CountdownTinyZero, ExtractionAndArithmetic) {
  EXPECT_EQ(extract_tinyzero_answer("<answer>1</answer>\n<answer> 2 </answer>"), "2");
  EXPECT_FALSE(extract_tinyzero_answer("<answer>1</answer>\n"));
  EXPECT_EQ(extract_tinyzero_answer("<answer>a<answer>b</answer>"), "a<answer>b");
  auto value = [](std::string_view text) {
    auto r = evaluate_python_arithmetic(text);
    return r.value ? r.value->to_string() : "error: " + r.error;
  };
  EXPECT_EQ(value("7/2"), "7/2");
  EXPECT_EQ(value("-7//2"), "-4");
  EXPECT_EQ(value("2**-2"), "1/4");
  EXPECT_EQ(value("(8/27)**(2/3)"), "4/9");
  EXPECT_EQ(value("-2**0.5"), "-1.41421");
  auto imaginary = evaluate_python_arithmetic("(-1)**0.5").value;  // Python: (6.123233995736766e-17+1j)
  ASSERT_TRUE(imaginary);
  EXPECT_EQ(imaginary->kind, PythonNumber::Kind::Complex);
  EXPECT_NEAR(static_cast<double>(imaginary->real), 0.0, 1e-15);
  EXPECT_NEAR(static_cast<double>(imaginary->imaginary), 1.0, 1e-15);
  EXPECT_EQ(value("1.25"), "5/4");
  EXPECT_EQ(value("1/0"), "error: division by zero");
  EXPECT_EQ(value("1//0"), "error: integer division or modulo by zero");
  EXPECT_EQ(value("2***3"), "error: syntax error at offset 3: unexpected '*'");
  EXPECT_EQ(value("2*/3"), "error: syntax error at offset 2: unexpected '/'");
  EXPECT_EQ(value("."), "error: syntax error at offset 0: unexpected '.'");
  EXPECT_EQ(value("((-1)**0.5)//1"), "error: can't take floor of complex number");
  // The exact test: 1 + 10^-6 is close to 1, 1 + 10^-5 is not (TinyZero's "< 1e-5").
  EXPECT_TRUE(python_close_to(*evaluate_python_arithmetic("1000001/1000000").value, 1));
  EXPECT_FALSE(python_close_to(*evaluate_python_arithmetic("100001/100000").value, 1));
  EXPECT_FALSE(python_close_to(*evaluate_python_arithmetic("9**99").value, 1));
}

// ---- brute force over the real test set ------------------------------------------------------------

namespace {

struct Item {
  Rational value;
  std::string text;
};

// Combines pairs until one item is left (need_all) or any item equals the target.
bool solve(const std::vector<Item>& items, const Rational& target, bool need_all, std::string& solution) {
  for (const Item& item : items) {
    if ((!need_all || items.size() == 1) && item.value == target) {
      solution = item.text;
      return true;
    }
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    for (std::size_t j = i + 1; j < items.size(); ++j) {
      std::vector<Item> rest;
      for (std::size_t k = 0; k < items.size(); ++k)
        if (k != i && k != j) rest.push_back(items[k]);
      const Item& a = items[i];
      const Item& b = items[j];
      std::vector<Item> candidates;
      auto push = [&](CheckedRational r, std::string text) {
        if (r.ok()) candidates.push_back({r.value, std::move(text)});
      };
      push(add(a.value, b.value), "(" + a.text + " + " + b.text + ")");
      push(subtract(a.value, b.value), "(" + a.text + " - " + b.text + ")");
      push(subtract(b.value, a.value), "(" + b.text + " - " + a.text + ")");
      push(multiply(a.value, b.value), "(" + a.text + " * " + b.text + ")");
      push(divide(a.value, b.value), "(" + a.text + " / " + b.text + ")");
      push(divide(b.value, a.value), "(" + b.text + " / " + a.text + ")");
      for (auto& candidate : candidates) {
        rest.push_back(candidate);
        if (solve(rest, target, need_all, solution)) return true;
        rest.pop_back();
      }
    }
  }
  return false;
}

}  // namespace

TEST(CountdownReward, BruteForceSolutionsOfTheFirst200TestProblemsScoreOne) {
  ILLUME_REQUIRE_SHARED_PATH("data/countdown/test.jsonl");
  auto problems = data::load_problems(data::Task::Countdown, test::shared_path("data/countdown/test.jsonl"));
  ASSERT_GE(problems.size(), 200u);
  int using_all = 0;
  for (std::size_t p = 0; p < 200; ++p) {
    const auto& problem = problems[p];
    std::vector<Item> items;
    for (auto n : problem.nums) items.push_back({Rational(n), std::to_string(n)});
    std::string solution;
    bool all = solve(items, Rational(problem.target), true, solution);
    if (!all) ASSERT_TRUE(solve(items, Rational(problem.target), false, solution)) << "row " << p << " unsolved";
    using_all += all;
    CountdownRewardOptions options;
    options.rule = CountdownRule::Lenient;
    options.use_all_numbers = all;
    std::string response = "<think>searching...</think>\n<answer> " + solution + " </answer>";
    RewardResult r = countdown_reward(response, CountdownProblem{problem.nums, problem.target}, options);
    EXPECT_TRUE(r.correct) << "row " << p << ": " << solution << " -> " << r.detail;
    EXPECT_EQ(r.reward, 1.0);
    // Through the task interface (TinyZero's rule): right exactly when every number is used.
    EXPECT_EQ(data::score_response(data::Task::Countdown, problem, response).correct, all) << "row " << p;
    // Off by one is wrong.
    RewardResult off = countdown_reward(response, CountdownProblem{problem.nums, problem.target + 1}, options);
    EXPECT_FALSE(off.correct) << "row " << p;
  }
  EXPECT_GT(using_all, 150) << "most rows are solvable with every number";
}

// The math reward: \boxed extraction, answer normalisation, exact numeric equality, a table-driven
// corpus (ordinary and adversarial), and every reference answer of the real test sets scoring 1.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common.h"
#include "illume/data/tasks.h"
#include "illume/rl/reward/math.h"
#include "illume/util/error.h"

using namespace illume;
using namespace illume::reward;

namespace {

std::string repeat(std::string_view s, std::size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

std::string boxed(std::string_view answer) { return "\\boxed{" + std::string(answer) + "}"; }

std::string garbage(std::size_t size, std::uint32_t seed) {
  std::string out(size, '\0');
  for (auto& c : out) {
    seed = seed * 1664525u + 1013904223u;
    c = static_cast<char>(seed >> 24);
  }
  return out;
}

}  // namespace

TEST(MathReward, ExtractLastBoxed) {
  EXPECT_EQ(extract_last_boxed("so \\boxed{5}."), "5");
  EXPECT_EQ(extract_last_boxed("\\boxed{1} then \\boxed{\\frac{1}{2}}"), "\\frac{1}{2}");
  EXPECT_EQ(extract_last_boxed("\\fbox{7}"), "7");
  EXPECT_EQ(extract_last_boxed("\\boxed{3} and \\fbox{4}"), "4");
  EXPECT_EQ(extract_last_boxed("\\fbox{3} and \\boxed{4}"), "4");
  EXPECT_EQ(extract_last_boxed("$\\boxed 5$"), "5");
  EXPECT_EQ(extract_last_boxed("\\boxed5 dollars"), "5");
  EXPECT_EQ(extract_last_boxed("\\boxed {5}"), "5");
  EXPECT_EQ(extract_last_boxed("\\boxed{\\{1,2\\}}"), "\\{1,2\\}");
  EXPECT_EQ(extract_last_boxed("\\boxed{a{b{c}}d}"), "a{b{c}}d");
  EXPECT_EQ(extract_last_boxed("\\boxed{}"), "");
  EXPECT_EQ(extract_last_boxed("\\boxed{4} \\boxedfoo{5}"), "4");  // another command is skipped
  EXPECT_FALSE(extract_last_boxed("no box"));
  EXPECT_FALSE(extract_last_boxed("\\boxed{5"));
  EXPECT_FALSE(extract_last_boxed("\\boxed{5} \\boxed{6"));  // the last one is unbalanced
  EXPECT_FALSE(extract_last_boxed("\\boxed"));
  EXPECT_FALSE(extract_last_boxed("\\boxed  "));
  EXPECT_FALSE(extract_last_boxed("\\boxed$"));
}

TEST(MathReward, Normalize) {
  struct Case {
    std::string input, expected;
  };
  std::vector<Case> cases = {
      {"5", "5"},
      {" 5 ", "5"},
      {"\\dfrac{1}{2}", "\\frac{1}{2}"},
      {"\\tfrac12", "\\frac{1}{2}"},
      {"\\frac 59", "\\frac{5}{9}"},
      {"\\frac{270}7\\text{ degrees}", "\\frac{270}{7}"},
      {"\\frac\\pi2", "\\frac{\\pi}{2}"},
      {"1/2", "\\frac{1}{2}"},
      {"\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"},
      {"025", "25"},
      {"27.0", "27"},
      {"1.50", "1.5"},
      {".35625", "0.35625"},
      {"\\$1,000", "1000"},
      {"\\$32,\\!348", "32348"},
      {"10,\\!080", "10080"},
      {"3, 5, 7", "3,5,7"},
      {"50\\%", "50"},
      {"90^\\circ", "90"},
      {"90^{\\circ}", "90"},
      {"\\text{(A)}", "A"},
      {"\\text{Evelyn}", "Evelyn"},
      {"x = 5", "5"},
      {"x_1 = 5", "5"},
      {"\\theta = 5", "5"},
      {"5x - 7y + 11z + 4 = 0", "5x-7y+11z+4=0"},
      {"x \\in [-2,7]", "[-2,7]"},
      {"864 \\mbox{ inches}^2", "864"},
      {"15\\mbox{ cm}^2", "15"},
      {"5.4 \\text{ cents}", "5.4"},
      {"12 apples", "12"},
      {"3 and 4", "3and4"},
      {"\\frac{", "\\frac{"},
      {"\\frac}", "\\frac}"},
      {"5cm", "5"},
      {"x + m", "x+m"},
      {"\\text{east}", "east"},
      {"\\sqrt2", "\\sqrt{2}"},
      {"4210_{5}", "4210_5"},
      {"\\begin{bmatrix} 1 \\\\ 2 \\end{bmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"},
      {"{{5}}", "5"},
      {"{1}{2}", "{1}{2}"},
      {"\\boxed{5}", "5"},
      {"5.", "5"},
      {"\xE2\x88\x92" "5", "-5"},
      {"a \\neq b", "a\\neb"},
      {"", ""},
  };
  for (const auto& c : cases) EXPECT_EQ(normalize_math_answer(c.input), c.expected) << "input: " << c.input;
}

TEST(MathReward, ParseNumber) {
  EXPECT_EQ(parse_math_number("\\frac{1}{2}")->to_string(), "1/2");
  EXPECT_EQ(parse_math_number("-\\frac{35}{9}")->to_string(), "-35/9");
  EXPECT_EQ(parse_math_number("1\\frac{4}{5}")->to_string(), "9/5");
  EXPECT_EQ(parse_math_number("-2\\frac{1}{2}")->to_string(), "-5/2");
  EXPECT_EQ(parse_math_number("1.5/3")->to_string(), "1/2");
  EXPECT_EQ(parse_math_number("0.0000672")->to_string(), "21/312500");
  EXPECT_FALSE(parse_math_number("\\frac{1}{0}"));
  EXPECT_FALSE(parse_math_number("\\frac{\\pi}{2}"));
  EXPECT_FALSE(parse_math_number("3\\sqrt{2}"));
  EXPECT_FALSE(parse_math_number("1,2"));
  EXPECT_FALSE(parse_math_number(""));
  EXPECT_FALSE(parse_math_number("-"));
  EXPECT_FALSE(parse_math_number("1" + std::string(200, '0')));
}

TEST(MathReward, Gsm8kReference) {
  EXPECT_EQ(gsm8k_reference_answer("She makes 9 * 2 = $18.\n#### 18"), "18");
  EXPECT_EQ(gsm8k_reference_answer("...\n#### 1,000 "), "1000");
  EXPECT_EQ(gsm8k_reference_answer("#### 1 #### -3"), "-3");
  EXPECT_THROW(gsm8k_reference_answer("no marker"), Error);
  EXPECT_THROW(gsm8k_reference_answer("#### "), Error);
}

namespace {

// Correct: 1; Wrong: boxed and parsed but not equal (0); Unformatted: no usable box (0);
// NotCorrect: 0 either way (inputs whose formatting depends on random bytes).
enum Outcome { Correct, Wrong, Unformatted, NotCorrect };

struct MathCase {
  std::string name;
  std::string response;
  std::string reference;
  Outcome outcome;
  std::string detail = "";
};

std::vector<MathCase> math_corpus() {
  std::vector<MathCase> c = {
      {"integer", boxed("5"), "5", Correct},
      {"fraction vs decimal", boxed("\\frac{1}{2}"), "0.5", Correct},
      {"decimal vs fraction", boxed("0.5"), "\\frac{1}{2}", Correct},
      {"slash vs \\frac12", boxed("1/2"), "\\frac12", Correct},
      {"dfrac vs decimal", boxed("\\dfrac{17}{50}"), "0.34", Correct},
      {"unreduced fraction", boxed("\\frac{2}{4}"), "\\frac{1}{2}", Correct},
      {"tfrac vs \\frac 34", boxed("\\tfrac{3}{4}"), "\\frac 34", Correct},
      {"leading zeros predicted", boxed("025"), "25", Correct},
      {"leading zeros reference (AIME)", boxed("25"), "025", Correct},
      {"27 vs 27.0 (AMC)", boxed("27"), "27.0", Correct},
      {"trailing zeros", boxed("27.00"), "27", Correct},
      {"dollar and thousands", boxed("\\$1,000"), "1000", Correct},
      {"thousands", boxed("1,000"), "1000", Correct},
      {"reference with dollar", boxed("1000"), "\\$1,000", Correct},
      {"percent dropped", boxed("50\\%"), "50", Correct},
      {"percent in reference", boxed("50"), "50\\%", Correct},
      {"percent is not a fraction", boxed("0.5"), "50\\%", Wrong},
      {"degrees ^\\circ", boxed("90^\\circ"), "90", Correct},
      {"degrees ^{\\circ}", boxed("90^{\\circ}"), "90", Correct},
      {"unicode degree", boxed("90\xC2\xB0"), "90^\\circ", Correct},
      {"degrees word", boxed("90 \\text{ degrees}"), "90", Correct},
      {"choice text", boxed("\\text{(A)}"), "(A)", Correct},
      {"choice letter", boxed("C"), "\\text{(C)}", Correct},
      {"wrong choice", boxed("B"), "\\text{(C)}", Wrong, "answer 'B' != 'C'"},
      {"x = 5 predicted", boxed("x = 5"), "5", Correct},
      {"x = 5 reference", boxed("5"), "x=5", Correct},
      {"dollars word", boxed("18 \\text{ dollars}"), "18", Correct},
      {"dollars plain", boxed("18 dollars"), "18", Correct},
      {"area unit", boxed("5\\text{ cm}^2"), "5", Correct},
      {"attached unit", boxed("5cm"), "5", Correct},
      {"mbox unit", boxed("864 \\mbox{ inches}^2"), "864", Correct},
      {"thin-space thousands", boxed("10,\\!080"), "10080", Correct},
      {"long thousands", boxed("11,\\! 111,\\! 111,\\! 100"), "11111111100", Correct},
      {"negative fraction forms", boxed("-\\frac{35}{9}"), "\\frac{-35}{9}", Correct},
      {"unicode minus", boxed("\xE2\x88\x92" "5"), "-5", Correct},
      {"tuple with left/right", boxed("\\left( 3, \\frac{\\pi}{2} \\right)"), "(3,\\frac{\\pi}{2})", Correct},
      {"\\frac\\pi2", boxed("(3, \\frac\\pi2)"), "\\left( 3, \\frac{\\pi}{2} \\right)", Correct},
      {"sqrt without braces", boxed("3\\sqrt13"), "3\\sqrt{13}", Correct},
      {"mixed number", boxed("\\frac{9}{5}"), "1\\frac{4}{5}", Correct},
      {"mixed number vs decimal", boxed("1.8"), "1\\frac{4}{5}", Correct},
      {"frac with text degrees", boxed("\\frac{270}{7}"), "\\frac{270}7\\text{ degrees}", Correct},
      {"leading point", boxed(".35625"), "0.35625", Correct},
      {"no float tolerance", boxed("0.333"), "\\frac{1}{3}", Wrong},
      {"expression spacing", boxed("p-q"), "p - q", Correct},
      {"expression differs", boxed("q-p"), "p - q", Wrong},
      {"name", boxed("\\text{Evelyn}"), "\\text{Evelyn}", Correct},
      {"bare name", boxed("Evelyn"), "\\text{Evelyn}", Correct},
      {"complex", boxed("6 - 5i"), "6-5i", Correct},
      {"bmatrix vs pmatrix", boxed("\\begin{bmatrix} 1 \\\\ 2 \\end{bmatrix}"),
       "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", Correct},
      {"interval with \\in", boxed("x \\in [-2,7]"), "[-2,7]", Correct},
      {"interval", boxed("(-\\infty, 0]"), "(-\\infty, 0]", Correct},
      {"list order matters", boxed("1,-2"), "-2,1", Wrong},
      {"fbox", "\\fbox{7}", "7", Correct},
      {"\\boxed 5 form", "so \\boxed 5", "5", Correct},
      {"\\boxed 5 in dollars", "$\\boxed 5$", "5", Correct},
      {"last box wins", boxed("3") + " no wait " + boxed("5"), "5", Correct},
      {"last box wrong", boxed("5") + " no wait " + boxed("3"), "5", Wrong},
      {"box inside box", boxed(boxed("5")), "5", Correct},
      {"extra braces", boxed("{5}"), "5", Correct},
      {"escaped braces", boxed("\\{1,2\\}"), "\\{1,2\\}", Correct},
      {"money with cents", boxed("\\$18.90"), "18.9", Correct},
      {"cents word", boxed("5.4 \\text{ cents}"), "5.4", Correct},
      {"fraction vs slash", boxed("\\frac{3}{2}"), "3/2", Correct},
      {"no symbolic equality", boxed("2"), "\\sqrt{4}", Wrong},
      {"thinking box ignored", "<think>maybe \\boxed{4}</think> The answer is " + boxed("5"), "5", Correct},
      {"spaces inside", boxed("  5  "), "5", Correct},
      {"sentence period", boxed("5."), "5", Correct},
      {"plus sign", boxed("+5"), "5", Correct},
      {"minus zero", boxed("-0"), "0", Correct},
      {"division by zero answer", boxed("\\frac{1}{0}"), "1", Wrong},
      {"100% is not 1", boxed("100\\%"), "1", Wrong},
      {"line equation", boxed("y = 2x + 3"), "y = 2x + 3", Correct},
      {"plus-minus", boxed("3 \\pm 2 \\sqrt{2}"), "3 \\pm 2 \\sqrt{2}", Correct},
      {"negative integer wrong", boxed("-5"), "5", Wrong, "answer '-5' != '5'"},
      {"two numbers are not one", boxed("3 \\text{ and } 4"), "3", Wrong},
      {"3 or 4", boxed("3 or 4"), "3", Wrong},
      // -- unformatted
      {"no box", "The answer is 5", "5", Unformatted, "no \\boxed answer"},
      {"unbalanced box", "\\boxed{5", "5", Unformatted, "no complete \\boxed{...} answer"},
      {"last box unbalanced", boxed("5") + " \\boxed{6", "5", Unformatted, "no complete"},
      {"empty box", boxed(""), "5", Unformatted, "empty"},
      {"blank box", boxed("  "), "5", Unformatted, "empty"},
      {"other command only", "\\boxedx{5}", "5", Unformatted, "no complete"},
      {"box at the very end", "answer: \\boxed", "5", Unformatted, "no complete"},
      // -- adversarial
      {"10^200 equal as strings", boxed("1" + std::string(200, '0')), "1" + std::string(200, '0'), Correct},
      {"10^200 vs 1", boxed("1" + std::string(200, '0')), "1", Wrong},
      {"10^200 vs 10^200 + 1", boxed("1" + std::string(200, '0')), "1" + std::string(199, '0') + "1", Wrong},
      {"10^5 nested braces", boxed(repeat("{", 100000) + "5" + repeat("}", 100000)), "5", Unformatted, "too long"},
      {"10^5 unbalanced braces", "\\boxed{" + repeat("{", 100000), "5", Unformatted, "no complete"},
      {"10^5 closing braces", boxed("5") + repeat("}", 100000), "5", Correct},
      {"10^5 boxes", repeat(boxed("4"), 100000) + boxed("5"), "5", Correct},
      {"10^5 backslashes", repeat("\\", 100000) + boxed("5"), "5", Correct},
      {"1 MB of garbage", garbage(1 << 20, 7), "5", NotCorrect},
      {"1 MB of garbage, then the box", garbage(1 << 20, 8) + "\n" + boxed("5"), "5", Correct},
      {"1 MB of garbage in the box", "\\boxed{" + garbage(1 << 20, 9) + "}", "5", NotCorrect},
      {"NUL byte in the box", boxed(std::string("5\0", 2)), "5", Wrong},
      {"NUL bytes around", std::string("\0", 1) + boxed("5") + std::string("\0", 1), "5", Correct},
      {"invalid UTF-8 in the box", boxed("\xff" "5"), "5", Wrong, "answer '?5' != '5'"},
      {"invalid UTF-8 around", "\xff\xfe " + boxed("5") + " \xc3", "5", Correct},
      {"deep \\frac nesting", boxed(repeat("\\frac{1}{", 5000) + "2" + repeat("}", 5000)), "5", Unformatted, "too long"},
      {"answer at the length cap", boxed(repeat(" ", 995) + "5"), "5", Correct},
  };
  return c;
}

}  // namespace

TEST(MathReward, Corpus) {
  auto corpus = math_corpus();
  EXPECT_GE(corpus.size(), 60u);
  auto start = std::chrono::steady_clock::now();
  for (const auto& c : corpus) {
    RewardResult r = math_reward(c.response, c.reference);
    EXPECT_EQ(r.reward, c.outcome == Correct ? 1.0 : 0.0) << c.name << ": " << r.detail;
    EXPECT_EQ(r.correct, c.outcome == Correct) << c.name;
    if (c.outcome != NotCorrect) EXPECT_EQ(r.formatted, c.outcome == Correct || c.outcome == Wrong) << c.name;
    EXPECT_NE(r.detail.find(c.detail), std::string::npos) << c.name << ": detail '" << r.detail << "'";
    EXPECT_LT(r.detail.size(), 200u) << c.name;
    for (unsigned char ch : r.detail) EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << c.name << ": detail is not printable ASCII";
    RewardResult again = math_reward(c.response, c.reference);
    EXPECT_EQ(again.reward, r.reward);
    EXPECT_EQ(again.detail, r.detail);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 20.0) << "the corpus, megabyte cases included, must score quickly";
}

TEST(MathReward, NormalizeIsLinearOnAdversarialInput) {
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(normalize_math_answer(repeat("{", 100000) + "5" + repeat("}", 100000)), "5");
  std::string deep = normalize_math_answer(repeat("\\frac{1}{", 100000) + "2" + repeat("}", 100000));
  EXPECT_FALSE(deep.empty());
  normalize_math_answer(garbage(1 << 20, 11));
  normalize_math_answer(repeat("1,", 500000));
  normalize_math_answer(repeat("1/", 500000));
  normalize_math_answer(repeat("\\text{", 100000));
  normalize_math_answer(repeat("x ", 500000) + "cm");
  normalize_math_answer(repeat("0", 1 << 20));
  EXPECT_FALSE(math_answers_equal(garbage(1 << 20, 12), garbage(1 << 20, 13)));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 20.0);
}

TEST(MathReward, EmptyAnswersAreNeverEqual) {
  EXPECT_FALSE(math_answers_equal("", ""));
  EXPECT_FALSE(math_answers_equal("\\text{}", "{}"));
  EXPECT_TRUE(math_answers_equal("\\frac{1}{2}", "0.5"));
}

// ---- the real test sets ------------------------------------------------------------------------------

TEST(MathReward, EveryGsm8kTestReferenceScoresOneWhenBoxed) {
  ILLUME_REQUIRE_SHARED_PATH("data/gsm8k/test.jsonl");
  auto problems = data::load_problems(data::Task::Gsm8k, test::shared_path("data/gsm8k/test.jsonl"));
  ASSERT_EQ(problems.size(), 1319u);
  for (const auto& p : problems) {
    // As the reference is stored, and as written after "####" (commas and all).
    std::string raw = p.raw["answer"].get<std::string>();
    std::string after_marker = raw.substr(raw.rfind("####") + 4);
    for (const std::string& answer : {p.reference, after_marker}) {
      RewardResult r = data::score_response(data::Task::Gsm8k, p, "Reasoning...\nSo the answer is " + boxed(answer) + ".");
      EXPECT_TRUE(r.correct) << p.id << ": " << answer << " -> " << r.detail;
      EXPECT_EQ(r.reward, 1.0);
    }
    EXPECT_FALSE(math_reward(boxed(p.reference + "1"), p.reference).correct) << p.id;
  }
}

TEST(MathReward, EveryCompetitionReferenceScoresOneWhenBoxed) {
  struct Set {
    data::Task task;
    const char* path;
    std::size_t rows;
  };
  for (const Set& set : {Set{data::Task::Math500, "data/math500/test.jsonl", 500},
                         Set{data::Task::Aime24, "data/aime24/test.jsonl", 30},
                         Set{data::Task::Aime25, "data/aime25/test.jsonl", 30},
                         Set{data::Task::Amc23, "data/amc23/test.jsonl", 40}}) {
    ILLUME_REQUIRE_SHARED_PATH(set.path);
    auto problems = data::load_problems(set.task, test::shared_path(set.path));
    ASSERT_EQ(problems.size(), set.rows) << set.path;
    for (const auto& p : problems) {
      RewardResult r = data::score_response(set.task, p, "... " + boxed(p.reference));
      EXPECT_TRUE(r.correct) << set.path << " " << p.id << ": " << p.reference << " -> " << r.detail;
      EXPECT_FALSE(math_reward(boxed("\\text{wrong}"), p.reference).correct) << p.id;
    }
  }
}

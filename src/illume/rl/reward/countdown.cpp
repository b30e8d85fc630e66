#include "illume/rl/reward/countdown.h"

#include <fmt/format.h>

#include <map>

#include "illume/rl/reward/detail_text.h"
#include "illume/util/text.h"

namespace illume::reward {

namespace {

using Status = CountdownExpression::Status;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Recursive descent over the grammar in countdown.h, evaluating as it parses. Recursion depth is
// bounded by kCountdownMaxNesting (each level of recursion consumes a '(' or a unary sign), and
// every character is looked at a bounded number of times, so time is linear in the input.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  CountdownExpression run() {
    Value v = expression();
    if (!failed_) {
      skip_spaces();
      if (position_ < text_.size()) syntax_error();
    }
    if (!failed_) {
      if (arithmetic_error_ == ArithmeticError::DivisionByZero) {
        set_status(Status::DivisionByZero, "division by zero");
      } else if (arithmetic_error_ == ArithmeticError::OutOfRange) {
        set_status(Status::ResultOutOfRange, "intermediate result out of range");
      } else {
        result_.value = v.value;
      }
    }
    if (!result_.parsed()) result_.numbers.clear();
    return std::move(result_);
  }

 private:
  // A value, or "unknown" once an arithmetic error has happened somewhere below it (we keep parsing
  // so that syntax errors and the numbers used are still reported).
  struct Value {
    Rational value;
    bool known = true;
  };

  void set_status(Status status, std::string message) {
    if (failed_) return;
    failed_ = true;
    result_.status = status;
    result_.error = std::move(message);
  }

  void syntax_error() {
    if (position_ >= text_.size()) {
      set_status(Status::SyntaxError, "syntax error: unexpected end of expression");
    } else {
      set_status(Status::SyntaxError, fmt::format("syntax error at offset {}: unexpected {}", position_,
                                                  detail::describe_byte(text_[position_])));
    }
  }

  void skip_spaces() {
    while (position_ < text_.size() && is_space(text_[position_])) ++position_;
  }

  // The next non-space character, or '\0' at the end (a real NUL byte is a syntax error anyway).
  char peek() {
    skip_spaces();
    return position_ < text_.size() ? text_[position_] : '\0';
  }
  bool at_end() {
    skip_spaces();
    return position_ >= text_.size();
  }

  Value combine(const Value& a, char op, const Value& b) {
    if (!a.known || !b.known) return {Rational(), false};
    CheckedRational r;
    switch (op) {
      case '+': r = add(a.value, b.value); break;
      case '-': r = subtract(a.value, b.value); break;
      case '*': r = multiply(a.value, b.value); break;
      default: r = divide(a.value, b.value); break;
    }
    if (!r.ok()) {
      if (arithmetic_error_ == ArithmeticError::None) arithmetic_error_ = r.error;
      return {Rational(), false};
    }
    return {r.value, true};
  }

  Value expression() {
    Value left = term();
    while (!failed_) {
      char c = peek();
      if (c != '+' && c != '-') break;
      ++position_;
      Value right = term();
      if (failed_) break;
      left = combine(left, c, right);
    }
    return left;
  }

  Value term() {
    Value left = unary();
    while (!failed_) {
      char c = peek();
      if (c != '*' && c != '/') break;
      ++position_;
      // Python's ** and // are not arithmetic we accept.
      if (peek() == c) {
        syntax_error();
        break;
      }
      Value right = unary();
      if (failed_) break;
      left = combine(left, c, right);
    }
    return left;
  }

  Value unary() {
    char c = peek();
    if (c == '-' || c == '+') {
      if (!enter()) return {};
      ++position_;
      Value v = unary();
      leave();
      if (failed_ || !v.known) return v;
      return c == '-' ? Value{negate(v.value), true} : v;
    }
    return primary();
  }

  Value primary() {
    if (at_end()) {
      syntax_error();
      return {};
    }
    char c = text_[position_];
    if (c == '(') {
      if (!enter()) return {};
      ++position_;
      Value v = expression();
      leave();
      if (failed_) return v;
      if (peek() != ')') {
        syntax_error();
        return {};
      }
      ++position_;
      return v;
    }
    if (is_digit(c)) return integer();
    syntax_error();
    return {};
  }

  Value integer() {
    std::size_t start = position_;
    while (position_ < text_.size() && is_digit(text_[position_])) ++position_;
    std::string_view digits = text_.substr(start, position_ - start);
    if (position_ < text_.size() && text_[position_] == '.') {
      set_status(Status::SyntaxError, fmt::format("syntax error at offset {}: only integers are allowed", start));
      return {};
    }
    if (digits.size() > 1 && digits.front() == '0') {
      set_status(Status::SyntaxError, fmt::format("syntax error at offset {}: number {} has a leading zero", start,
                                                  detail::excerpt(digits, 20)));
      return {};
    }
    auto value = digits.size() <= static_cast<std::size_t>(Rational::kMaxDigits) ? parse_digits(digits) : std::nullopt;
    if (!value) {
      set_status(Status::NumberOutOfRange,
                 fmt::format("number {} is out of range (more than {} digits)", detail::excerpt(digits, 20),
                             Rational::kMaxDigits));
      return {};
    }
    result_.numbers.push_back(*value);
    return {*Rational::make(*value, 1), true};
  }

  bool enter() {
    if (++depth_ > kCountdownMaxNesting) {
      set_status(Status::TooDeep, fmt::format("nesting deeper than {}", kCountdownMaxNesting));
      return false;
    }
    return true;
  }
  void leave() { --depth_; }

  std::string_view text_;
  std::size_t position_ = 0;
  int depth_ = 0;
  bool failed_ = false;
  ArithmeticError arithmetic_error_ = ArithmeticError::None;
  CountdownExpression result_;
};

std::string format_numbers(const std::vector<std::int64_t>& nums) { return fmt::format("[{}]", fmt::join(nums, ", ")); }

// Checks the literals against the multiset of given numbers; "" if fine, else the reason.
std::string check_numbers(const std::vector<Rational::Int>& used, const std::vector<std::int64_t>& given,
                          bool use_all_numbers) {
  std::map<Rational::Int, int> available;
  for (auto n : given) ++available[n];
  std::map<Rational::Int, int> count;
  for (auto n : used) {
    int times = ++count[n];
    auto it = available.find(n);
    if (it == available.end()) return fmt::format("uses {}, which is not in {}", int128_to_string(n), format_numbers(given));
    if (times > it->second) {
      if (it->second == 1 && times == 2) return fmt::format("uses {} twice", int128_to_string(n));
      return fmt::format("uses {} {} times but it is given {} times", int128_to_string(n), times, it->second);
    }
  }
  if (use_all_numbers) {
    for (auto& [n, times] : available) {
      if (count[n] < times) {
        if (times == 1) return fmt::format("does not use {}", int128_to_string(n));
        return fmt::format("uses {} {} times but it is given {} times", int128_to_string(n), count[n], times);
      }
    }
  }
  return "";
}

}  // namespace

std::optional<std::string_view> extract_last_answer(std::string_view response) {
  static constexpr std::string_view kOpen = "<answer>", kClose = "</answer>";
  std::size_t close = response.rfind(kClose);
  if (close == std::string_view::npos) return std::nullopt;
  std::size_t open = response.substr(0, close).rfind(kOpen);
  if (open == std::string_view::npos) return std::nullopt;
  return response.substr(open + kOpen.size(), close - open - kOpen.size());
}

CountdownExpression evaluate_countdown_expression(std::string_view expression) {
  if (expression.size() > kCountdownMaxAnswerLength) {
    CountdownExpression result;
    result.status = Status::TooLong;
    result.error = fmt::format("answer too long ({} > {} characters)", expression.size(), kCountdownMaxAnswerLength);
    return result;
  }
  return Parser(expression).run();
}

RewardResult countdown_reward(std::string_view response, const CountdownProblem& problem,
                              const CountdownRewardOptions& options) {
  if (options.rule == CountdownRule::TinyZero) return tinyzero_countdown_reward(response, problem, options);
  return lenient_countdown_reward(response, problem, options);
}

RewardResult lenient_countdown_reward(std::string_view response, const CountdownProblem& problem,
                                      const CountdownRewardOptions& options) {
  auto answer = extract_last_answer(response);
  if (!answer) return {0.0, false, false, "no <answer> tag"};
  std::string_view text = trim(*answer);
  if (text.empty()) return {0.0, false, false, "empty answer"};
  CountdownExpression expression = evaluate_countdown_expression(text);
  if (!expression.parsed()) return {0.0, false, false, expression.error};

  RewardResult wrong{countdown_format_reward(options), false, true, ""};
  wrong.detail = check_numbers(expression.numbers, problem.nums, options.use_all_numbers);
  if (!wrong.detail.empty()) return wrong;
  if (expression.status != Status::Ok) {
    wrong.detail = expression.error;
    return wrong;
  }
  if (expression.value != Rational(problem.target)) {
    wrong.detail = fmt::format("result {} != {}", expression.value.to_string(), problem.target);
    return wrong;
  }
  return {options.correct_reward, true, true, "correct"};
}

}  // namespace illume::reward

// TinyZero's Countdown reward (countdown.h, CountdownRule::TinyZero), reproduced from
// verl/utils/reward_score/countdown.py as quoted in METHOD.md section 5:
//   extract_solution:  last line of the text after "Assistant:", last <answer>(.*?)</answer>, strip()
//   validate_equation: sorted(int(n) for n in re.findall(r'\d+', eq)) == sorted(numbers)
//   evaluate_equation: re.match(r'^[\d+\-*/().\s]+$', eq), then eval(eq) with no builtins
//   compute_score:     None -> 0; not valid -> 0.1; eval fails -> 0.1; abs(result - target) < 1e-5 -> 1
// Where Python's eval can hang or crash (huge powers, deep nesting), we give the answer that Python
// would give if it had unbounded time and memory, or the 0.1 that its exception would give.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <string>
#include <vector>

#include "illume/rl/reward/countdown.h"
#include "illume/rl/reward/detail_text.h"
#include "illume/util/error.h"

namespace illume::reward {

namespace {

using Int = Rational::Int;
using Complex = std::complex<long double>;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Length of the Python whitespace character (str.isspace) that starts at text[i], or 0. The ASCII
// ones, U+001C..U+001F, and the UTF-8 encodings of U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028,
// U+2029, U+202F, U+205F and U+3000.
std::size_t python_space_at(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) { return k < text.size() ? static_cast<unsigned char>(text[k]) : 0u; };
  unsigned char c = byte(i);
  if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
  if (c == 0xc2 && (byte(i + 1) == 0x85 || byte(i + 1) == 0xa0)) return 2;
  if (c == 0xe1 && byte(i + 1) == 0x9a && byte(i + 2) == 0x80) return 3;
  if (c == 0xe2 && byte(i + 1) == 0x80 && ((byte(i + 2) >= 0x80 && byte(i + 2) <= 0x8a) || byte(i + 2) == 0xa8 ||
                                           byte(i + 2) == 0xa9 || byte(i + 2) == 0xaf))
    return 3;
  if (c == 0xe2 && byte(i + 1) == 0x81 && byte(i + 2) == 0x9f) return 3;
  if (c == 0xe3 && byte(i + 1) == 0x80 && byte(i + 2) == 0x80) return 3;
  return 0;
}

// Python's str.strip() with no arguments.
std::string_view python_strip(std::string_view text) {
  while (std::size_t n = python_space_at(text, 0)) text.remove_prefix(n);
  // From the back: every whitespace encoding is 1 to 3 bytes long; try the longest first.
  for (bool removed = true; removed && !text.empty();) {
    removed = false;
    for (std::size_t n = std::min<std::size_t>(3, text.size()); n >= 1; --n) {
      if (python_space_at(text, text.size() - n) == n) {
        text.remove_suffix(n);
        removed = true;
        break;
      }
    }
  }
  return text;
}

// ---- validate_equation ------------------------------------------------------------------------------

// The numbers of re.findall(r'\d+', answer) as int() reads them; a run too long for __int128 cannot
// equal a given (int64) number and is kept as nullopt.
std::vector<std::optional<Int>> numbers_in(std::string_view answer) {
  std::vector<std::optional<Int>> out;
  for (std::size_t i = 0; i < answer.size();) {
    if (!is_digit(answer[i])) {
      ++i;
      continue;
    }
    std::size_t start = i;
    while (i < answer.size() && is_digit(answer[i])) ++i;
    std::string_view run = answer.substr(start, i - start);
    while (run.size() > 1 && run.front() == '0') run.remove_prefix(1);
    out.push_back(run.size() <= 30 ? parse_digits(run) : std::nullopt);
  }
  return out;
}

std::string list_text(const std::vector<std::optional<Int>>& numbers) {
  std::string out = "[";
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    if (i == 8) {
      out += fmt::format(", ... ({} in all)", numbers.size());
      break;
    }
    if (i > 0) out += ", ";
    out += numbers[i] ? int128_to_string(*numbers[i]) : "(a huge number)";
  }
  return out + "]";
}

// "" when the answer uses exactly the given numbers, else the reason.
std::string validate_numbers(std::string_view answer, const std::vector<std::int64_t>& given) {
  auto used = numbers_in(answer);
  std::vector<std::optional<Int>> expected;
  for (auto n : given) expected.push_back(static_cast<Int>(n));
  std::sort(used.begin(), used.end());  // nullopt sorts first and equals no given number
  std::sort(expected.begin(), expected.end());
  if (used == expected) return "";
  return fmt::format("numbers {} are not the given {}", list_text(used), list_text(expected));
}

// ---- Python arithmetic ------------------------------------------------------------------------------

long double to_long_double(const Rational& r) {
  return static_cast<long double>(r.numerator()) / static_cast<long double>(r.denominator());
}

PythonNumber exact_number(const Rational& r) { return PythonNumber{PythonNumber::Kind::Exact, r, 0, 0}; }
PythonNumber real_number(long double x) { return PythonNumber{PythonNumber::Kind::Real, Rational(), x, 0}; }
PythonNumber complex_number(Complex z) {
  return PythonNumber{PythonNumber::Kind::Complex, Rational(), z.real(), z.imag()};
}

Complex approximate(const PythonNumber& v) {
  if (v.kind == PythonNumber::Kind::Exact) return {to_long_double(v.exact), 0};
  return {v.real, v.imaginary};
}

bool is_complex(const PythonNumber& v) { return v.kind == PythonNumber::Kind::Complex; }
bool is_exact(const PythonNumber& v) { return v.kind == PythonNumber::Kind::Exact; }

// floor(n / d) for d > 0.
Int floor_divide(Int n, Int d) { return n >= 0 ? n / d : -((-n + d - 1) / d); }

// The integer r >= 0 with r^degree == n (n >= 0), if there is one.
std::optional<Int> exact_root(Int n, Int degree) {
  if (n <= 1) return n;
  long double guess = std::round(std::pow(static_cast<long double>(n), 1.0L / static_cast<long double>(degree)));
  for (long double candidate = std::max(0.0L, guess - 1); candidate <= guess + 1; candidate += 1) {
    Int r = static_cast<Int>(candidate);
    Int power = 1;
    bool over = false;
    for (Int i = 0; i < degree && !over; ++i) {
      if (r != 0 && power > n / r) over = true;
      else power *= r;
    }
    if (!over && power == n) return r;
  }
  return std::nullopt;
}

// base^exponent for an integer exponent, exactly; nullopt when the result leaves the Rational range.
std::optional<Rational> exact_integer_power(const Rational& base, Int exponent) {
  if (base == Rational(1) || exponent == 0) return Rational(1);
  if (base == Rational(-1)) return Rational(exponent % 2 == 0 ? 1 : -1);
  // |base| != 1, so |base|^n or its denominator passes 10^30 once n > 100.
  if (exponent > 128 || exponent < -128) return std::nullopt;
  Rational result(1), square = base;
  for (Int n = exponent < 0 ? -exponent : exponent; n > 0; n /= 2) {
    if (n % 2 == 1) {
      auto r = multiply(result, square);
      if (!r.ok()) return std::nullopt;
      result = r.value;
    }
    if (n > 1) {
      auto s = multiply(square, square);
      if (!s.ok()) return std::nullopt;
      square = s.value;
    }
  }
  if (exponent > 0) return result;
  auto inverse = divide(Rational(1), result);  // result != 0: base != 0 here
  if (!inverse.ok()) return std::nullopt;
  return inverse.value;
}

// Evaluates as it parses (Python's grammar restricted to the allowed characters):
//   expression := term (('+' | '-') term)*
//   term       := factor (('*' | '/' | '//') factor)*
//   factor     := ('+' | '-')* power               (iterative: no recursion per sign)
//   power      := atom ['**' factor]               (right-associative; iterative)
//   atom       := NUMBER | '(' expression ')'      (the only recursion, at most 200 deep)
//   NUMBER     := digits | digits '.' digits? | '.' digits   ("0" runs fine, "07" a syntax error)
// Whitespace between tokens: space, tab, form feed; a carriage return only inside parentheses
// (Python reads it as a line break). Anything else, "()" and a call "2(3)" among them, fails.
class PythonParser {
 public:
  explicit PythonParser(std::string_view text) : text_(text) {}

  PythonArithmetic run() {
    PythonNumber v = expression();
    if (error_.empty()) {
      skip_spaces();
      if (position_ < text_.size()) unexpected();
    }
    if (!error_.empty()) return {std::nullopt, error_};
    return {v, ""};
  }

 private:
  bool failed() const { return !error_.empty(); }
  void fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
  }
  void unexpected() {
    if (position_ >= text_.size()) return fail("syntax error: unexpected end of expression");
    fail(fmt::format("syntax error at offset {}: unexpected {}", position_, detail::describe_byte(text_[position_])));
  }

  void skip_spaces() {
    while (position_ < text_.size()) {
      char c = text_[position_];
      if (c == ' ' || c == '\t' || c == '\f' || (c == '\r' && depth_ > 0)) ++position_;
      else break;
    }
  }
  char peek() {
    skip_spaces();
    return position_ < text_.size() ? text_[position_] : '\0';
  }
  char peek_next() const { return position_ + 1 < text_.size() ? text_[position_ + 1] : '\0'; }

  PythonNumber expression() {
    PythonNumber left = term();
    while (!failed()) {
      char c = peek();
      if (c != '+' && c != '-') break;
      ++position_;
      PythonNumber right = term();
      if (failed()) break;
      left = arithmetic(left, c, right);
    }
    return left;
  }

  PythonNumber term() {
    PythonNumber left = factor();
    while (!failed()) {
      char c = peek();
      if (c != '*' && c != '/') break;
      if (c == '*' && peek_next() == '*') break;  // "**" belongs to a power; here it is a syntax error
      char op = c;
      ++position_;
      if (c == '/' && position_ < text_.size() && text_[position_] == '/') {
        op = 'f';  // floor division
        ++position_;
      }
      PythonNumber right = factor();
      if (failed()) break;
      left = arithmetic(left, op, right);
    }
    return left;
  }

  PythonNumber factor() {
    // signs[0] atoms[0] ** signs[1] atoms[1] ** ... : the power chain, evaluated right to left.
    std::vector<bool> negated;
    std::vector<PythonNumber> atoms;
    while (!failed()) {
      bool negative = false;
      for (char c = peek(); c == '+' || c == '-'; c = peek()) {
        negative ^= c == '-';
        ++position_;
      }
      negated.push_back(negative);
      atoms.push_back(atom());
      if (failed()) return {};
      if (peek() == '*' && peek_next() == '*') {
        position_ += 2;
        continue;
      }
      break;
    }
    if (failed()) return {};
    PythonNumber v = signed_value(atoms.back(), negated.back());
    for (std::size_t i = atoms.size() - 1; i-- > 0 && !failed();) v = signed_value(power(atoms[i], v), negated[i]);
    return v;
  }

  PythonNumber atom() {
    char c = peek();
    if (c == '(') {
      if (++depth_ > kPythonMaxParentheses) {
        fail(fmt::format("more than {} nested parentheses (Python's limit)", kPythonMaxParentheses));
        return {};
      }
      ++position_;
      PythonNumber v = expression();
      if (failed()) return v;
      if (peek() != ')') {
        unexpected();
        return {};
      }
      ++position_;
      --depth_;
      return v;
    }
    if (is_digit(c) || (c == '.' && is_digit(peek_next()))) return number();
    unexpected();
    return {};
  }

  PythonNumber number() {
    std::size_t start = position_;
    while (position_ < text_.size() && is_digit(text_[position_])) ++position_;
    std::string_view integer_digits = text_.substr(start, position_ - start);
    bool is_float = position_ < text_.size() && text_[position_] == '.';
    if (is_float) {
      ++position_;
      while (position_ < text_.size() && is_digit(text_[position_])) ++position_;
    } else if (integer_digits.size() > 1 && integer_digits.front() == '0' &&
               integer_digits.find_first_not_of('0') != std::string_view::npos) {
      fail(fmt::format("syntax error at offset {}: leading zeros in decimal integer literals are not permitted",
                       start));
      return {};
    }
    std::string_view literal = text_.substr(start, position_ - start);
    if (auto exact = parse_decimal(literal)) return exact_number(*exact);
    // Beyond 30 significant digits: Python reads a float literal (or int) to the nearest double.
    return real_number(std::strtold(std::string(literal).c_str(), nullptr));
  }

  PythonNumber signed_value(const PythonNumber& v, bool negative) {
    if (!negative) return v;
    if (is_exact(v)) return exact_number(negate(v.exact));
    return PythonNumber{v.kind, Rational(), -v.real, -v.imaginary};
  }

  PythonNumber arithmetic(const PythonNumber& a, char op, const PythonNumber& b) {
    const bool divides = op == '/' || op == 'f';
    if (divides && approximate(b) == Complex(0, 0)) {
      fail(op == 'f' ? "integer division or modulo by zero" : "division by zero");
      return {};
    }
    if (is_exact(a) && is_exact(b)) {
      CheckedRational r;
      switch (op) {
        case '+': r = add(a.exact, b.exact); break;
        case '-': r = subtract(a.exact, b.exact); break;
        case '*': r = multiply(a.exact, b.exact); break;
        default: r = divide(a.exact, b.exact); break;
      }
      if (r.ok() && op == 'f') r.value = *Rational::make(floor_divide(r.value.numerator(), r.value.denominator()), 1);
      if (r.ok()) return exact_number(r.value);
      // Out of the exact range: continue approximately, as Python's floats would.
    }
    if (op == 'f' && (is_complex(a) || is_complex(b))) {
      fail("can't take floor of complex number");
      return {};
    }
    Complex x = approximate(a), y = approximate(b);
    Complex z;
    switch (op) {
      case '+': z = x + y; break;
      case '-': z = x - y; break;
      case '*': z = x * y; break;
      case '/': z = x / y; break;
      default: z = Complex(std::floor(x.real() / y.real()), 0); break;
    }
    if (is_complex(a) || is_complex(b)) return complex_number(z);
    return real_number(z.real());
  }

  PythonNumber power(const PythonNumber& base, const PythonNumber& exponent) {
    const bool zero_base = approximate(base) == Complex(0, 0);
    if (is_exact(base) && is_exact(exponent)) {
      const Rational& e = exponent.exact;
      if (zero_base) {
        if (e.numerator() < 0) {
          fail("0 cannot be raised to a negative power");
          return {};
        }
        return exact_number(Rational(e.is_zero() ? 1 : 0));
      }
      if (e.is_integer()) {
        if (auto r = exact_integer_power(base.exact, e.numerator())) return exact_number(*r);
      } else if (base.exact.numerator() > 0 && e.denominator() <= 128) {
        // A rational power of a positive rational is rational when both its parts are perfect powers.
        auto top = exact_root(base.exact.numerator(), e.denominator());
        auto bottom = exact_root(base.exact.denominator(), e.denominator());
        if (top && bottom) {
          if (auto root = Rational::make(*top, *bottom)) {
            if (auto r = exact_integer_power(*root, e.numerator())) return exact_number(*r);
          }
        }
      }
    }
    Complex x = approximate(base), y = approximate(exponent);
    if (zero_base && (y.real() < 0 || y.imag() != 0)) {
      fail("0 cannot be raised to a negative or complex power");
      return {};
    }
    const bool real_result = !is_complex(base) && !is_complex(exponent) &&
                             (x.real() >= 0 || std::floor(y.real()) == y.real());
    if (real_result) return real_number(std::pow(x.real(), y.real()));
    // Python: a negative number to a fractional power is complex.
    if (zero_base) return complex_number(y == Complex(0, 0) ? Complex(1, 0) : Complex(0, 0));
    return complex_number(std::pow(x, y));
  }

  std::string_view text_;
  std::size_t position_ = 0;
  int depth_ = 0;
  std::string error_;
};

}  // namespace

CountdownRule parse_countdown_rule(std::string_view name) {
  std::string lower;
  for (char c : name) lower.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  if (lower == "tinyzero") return CountdownRule::TinyZero;
  if (lower == "lenient") return CountdownRule::Lenient;
  fail("unknown countdown rule '{}' (valid: tinyzero, lenient)", detail::excerpt(name));
}

std::string countdown_rule_name(CountdownRule rule) { return rule == CountdownRule::TinyZero ? "tinyzero" : "lenient"; }

double countdown_format_reward(const CountdownRewardOptions& options) {
  return options.format_reward.value_or(options.rule == CountdownRule::TinyZero ? 0.1 : 0.0);
}

std::string PythonNumber::to_string() const {
  if (kind == Kind::Exact) return exact.to_string();
  if (kind == Kind::Real) return fmt::format("{:.6g}", static_cast<double>(real));
  return fmt::format("({:.6g}{:+.6g}j)", static_cast<double>(real), static_cast<double>(imaginary));
}

std::optional<std::string_view> extract_tinyzero_answer(std::string_view response) {
  // solution_str.split('\n')[-1]
  if (auto newline = response.rfind('\n'); newline != std::string_view::npos) response.remove_prefix(newline + 1);
  // The last match of re.finditer(r'<answer>(.*?)</answer>'): scanning left to right, a match starts
  // at the first "<answer>" and ends at the first "</answer>" after it; the next search starts there.
  static constexpr std::string_view kOpen = "<answer>", kClose = "</answer>";
  std::optional<std::string_view> last;
  for (std::size_t from = 0;;) {
    std::size_t open = response.find(kOpen, from);
    if (open == std::string_view::npos) break;
    std::size_t close = response.find(kClose, open + kOpen.size());
    if (close == std::string_view::npos) break;  // no later "<answer>" can close either
    last = response.substr(open + kOpen.size(), close - open - kOpen.size());
    from = close + kClose.size();
  }
  if (!last) return std::nullopt;
  return python_strip(*last);
}

PythonArithmetic evaluate_python_arithmetic(std::string_view expression) { return PythonParser(expression).run(); }

bool python_close_to(const PythonNumber& value, std::int64_t target) {
  if (value.kind == PythonNumber::Kind::Exact) {
    auto difference = subtract(value.exact, Rational(target));
    if (difference.ok()) {
      Int n = difference.value.numerator() < 0 ? -difference.value.numerator() : difference.value.numerator();
      return n * 100000 < difference.value.denominator();  // |n / d| < 1e-5; n <= 10^30 keeps this in range
    }
  }
  Complex d = approximate(value) - Complex(static_cast<long double>(target), 0);
  return std::abs(d) < 1e-5L;  // false for NaN
}

RewardResult tinyzero_countdown_reward(std::string_view response, const CountdownProblem& problem,
                                       const CountdownRewardOptions& options) {
  auto answer = extract_tinyzero_answer(response);
  if (!answer) return {0.0, false, false, "no <answer>...</answer> on the last line"};
  RewardResult wrong{countdown_format_reward(options), false, true, ""};
  wrong.detail = validate_numbers(*answer, problem.nums);
  if (!wrong.detail.empty()) return wrong;
  PythonArithmetic result = evaluate_python_arithmetic(*answer);
  if (!result.value) {
    wrong.detail = result.error;
    return wrong;
  }
  if (!python_close_to(*result.value, problem.target)) {
    wrong.detail = fmt::format("result {} != {}", result.value->to_string(), problem.target);
    return wrong;
  }
  return {options.correct_reward, true, true, "correct"};
}

}  // namespace illume::reward

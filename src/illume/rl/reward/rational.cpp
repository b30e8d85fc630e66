#include "illume/rl/reward/rational.h"

#include <algorithm>

namespace illume::reward {

namespace {

using Int = Rational::Int;

Int abs_int(Int v) { return v < 0 ? -v : v; }  // |v| <= 2^127-1 here: callers never pass INT128_MIN

Int gcd_int(Int a, Int b) {
  a = abs_int(a);
  b = abs_int(b);
  while (b != 0) {
    Int t = a % b;
    a = b;
    b = t;
  }
  return a;
}

bool within_limit(Int v) { return v <= Rational::kLimit && v >= -Rational::kLimit; }

CheckedRational out_of_range() { return {Rational(), ArithmeticError::OutOfRange}; }

CheckedRational from_parts(Int numerator, Int denominator) {
  auto r = Rational::make(numerator, denominator);
  if (!r) return out_of_range();
  return {*r, ArithmeticError::None};
}

}  // namespace

std::optional<Rational> Rational::make(Int numerator, Int denominator) {
  if (denominator == 0) return std::nullopt;
  // Both inputs come from checked arithmetic on values bounded by 2^127-1 in magnitude; guard the one
  // value whose negation would overflow.
  const Int min_int = -(((static_cast<Int>(1) << 126) - 1) * 2 + 1) - 1;
  if (numerator == min_int || denominator == min_int) return std::nullopt;
  if (denominator < 0) {
    numerator = -numerator;
    denominator = -denominator;
  }
  Int g = gcd_int(numerator, denominator);
  if (g > 1) {
    numerator /= g;
    denominator /= g;
  }
  if (numerator == 0) denominator = 1;
  if (!within_limit(numerator) || denominator > kLimit) return std::nullopt;
  Rational r;
  r.numerator_ = numerator;
  r.denominator_ = denominator;
  return r;
}

std::string Rational::to_string() const {
  std::string s = int128_to_string(numerator_);
  if (denominator_ != 1) {
    s += '/';
    s += int128_to_string(denominator_);
  }
  return s;
}

CheckedRational add(const Rational& a, const Rational& b) {
  // a/b + c/d = (a*(d/g) + c*(b/g)) / (b/g*d), g = gcd(b, d).
  Int g = gcd_int(a.denominator(), b.denominator());
  Int bg = a.denominator() / g, dg = b.denominator() / g;
  Int left, right, numerator, denominator;
  if (__builtin_mul_overflow(a.numerator(), dg, &left) || __builtin_mul_overflow(b.numerator(), bg, &right) ||
      __builtin_add_overflow(left, right, &numerator) || __builtin_mul_overflow(bg, b.denominator(), &denominator))
    return out_of_range();
  return from_parts(numerator, denominator);
}

Rational negate(const Rational& a) {
  return *Rational::make(-a.numerator(), a.denominator());  // symmetric bound: always fits
}

CheckedRational subtract(const Rational& a, const Rational& b) { return add(a, negate(b)); }

CheckedRational multiply(const Rational& a, const Rational& b) {
  // Cross-reduce first so that products stay small: (a/b)(c/d) = ((a/g1)(c/g2)) / ((b/g2)(d/g1)).
  Int g1 = gcd_int(a.numerator(), b.denominator());
  Int g2 = gcd_int(b.numerator(), a.denominator());
  if (g1 == 0) g1 = 1;
  if (g2 == 0) g2 = 1;
  Int numerator, denominator;
  if (__builtin_mul_overflow(a.numerator() / g1, b.numerator() / g2, &numerator) ||
      __builtin_mul_overflow(a.denominator() / g2, b.denominator() / g1, &denominator))
    return out_of_range();
  return from_parts(numerator, denominator);
}

CheckedRational divide(const Rational& a, const Rational& b) {
  if (b.is_zero()) return {Rational(), ArithmeticError::DivisionByZero};
  auto reciprocal = Rational::make(b.denominator(), b.numerator());
  if (!reciprocal) return out_of_range();
  return multiply(a, *reciprocal);
}

std::optional<Int> parse_digits(std::string_view digits) {
  if (digits.empty()) return std::nullopt;
  Int value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
    if (value > Rational::kLimit) return std::nullopt;  // stops before any overflow
  }
  return value;
}

std::optional<Rational> parse_decimal(std::string_view text) {
  bool negative = false;
  if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  std::string_view integer_part = text, fraction_part;
  bool has_point = false;
  if (auto dot = text.find('.'); dot != std::string_view::npos) {
    has_point = true;
    integer_part = text.substr(0, dot);
    fraction_part = text.substr(dot + 1);
  }
  if (integer_part.empty() && fraction_part.empty()) return std::nullopt;
  auto all_digits = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!all_digits(integer_part) || !all_digits(fraction_part)) return std::nullopt;
  if (has_point && integer_part.empty() && fraction_part.empty()) return std::nullopt;
  // Drop zeros that do not change the value before counting digits against the bound.
  while (!fraction_part.empty() && fraction_part.back() == '0') fraction_part.remove_suffix(1);
  while (integer_part.size() > 1 && integer_part.front() == '0') integer_part.remove_prefix(1);
  if (fraction_part.size() > static_cast<std::size_t>(Rational::kMaxDigits)) return std::nullopt;
  std::string digits(integer_part);
  digits += fraction_part;
  std::size_t first = digits.find_first_not_of('0');
  std::string_view significant = first == std::string::npos ? std::string_view("0") : std::string_view(digits).substr(first);
  auto numerator = parse_digits(significant);
  if (!numerator) return std::nullopt;
  Int denominator = 1;
  for (std::size_t i = 0; i < fraction_part.size(); ++i) denominator *= 10;  // <= 10^30
  return Rational::make(negative ? -*numerator : *numerator, denominator);
}

std::string int128_to_string(Int value) {
  if (value == 0) return "0";
  bool negative = value < 0;
  std::string digits;
  // Work on the negative side so that the most negative value is handled too.
  Int v = negative ? value : -value;
  while (v != 0) {
    digits.push_back(static_cast<char>('0' - static_cast<int>(v % 10)));
    v /= 10;
  }
  if (negative) digits.push_back('-');
  std::reverse(digits.begin(), digits.end());
  return digits;
}

}  // namespace illume::reward

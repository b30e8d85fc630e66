// Exact rational arithmetic for the reward functions (Countdown expressions, numeric math answers).
//
// A Rational is numerator/denominator on __int128 with the invariants
//   denominator > 0, gcd(|numerator|, denominator) == 1,
//   |numerator| <= kLimit and denominator <= kLimit, where kLimit = 10^30.
// Every operation is checked: a result outside the bound, or an intermediate product that would
// overflow __int128 (about 1.7e38), is reported as ArithmeticError::OutOfRange, never wraps, never
// throws. For rewards, "out of range" means "not a number we accept" and scores 0. (A result that
// fits but whose intermediate products overflow is also OutOfRange; with the 10^30 bound and the
// small numbers of Countdown/math answers this does not arise in practice.)
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace illume::reward {

class Rational {
 public:
  using Int = __int128;
  // 10^30: the largest magnitude accepted for numerator and denominator.
  static constexpr Int kLimit = static_cast<Int>(1000000000000000LL) * static_cast<Int>(1000000000000000LL);
  // Decimal digits that always fit under kLimit.
  static constexpr int kMaxDigits = 30;

  Rational() = default;  // 0
  // Any int64 is within the bound.
  explicit Rational(std::int64_t value) : numerator_(value), denominator_(1) {}

  // numerator/denominator reduced to lowest terms; nullopt if denominator == 0 or out of range.
  static std::optional<Rational> make(Int numerator, Int denominator);

  Int numerator() const { return numerator_; }
  Int denominator() const { return denominator_; }
  bool is_integer() const { return denominator_ == 1; }
  bool is_zero() const { return numerator_ == 0; }
  // "7", "-7/2".
  std::string to_string() const;

  friend bool operator==(const Rational&, const Rational&) = default;

 private:
  Int numerator_ = 0;
  Int denominator_ = 1;
};

enum class ArithmeticError { None, OutOfRange, DivisionByZero };

struct CheckedRational {
  Rational value;  // meaningful only when error == None
  ArithmeticError error = ArithmeticError::None;
  bool ok() const { return error == ArithmeticError::None; }
};

CheckedRational add(const Rational& a, const Rational& b);
CheckedRational subtract(const Rational& a, const Rational& b);
CheckedRational multiply(const Rational& a, const Rational& b);
CheckedRational divide(const Rational& a, const Rational& b);
Rational negate(const Rational& a);  // always fits (the bound is symmetric)

// Parses an unsigned run of ASCII digits ("0", "007", "123"); nullopt if empty, not all digits, or
// above kLimit. Leading zeros are accepted here; callers that reject them check themselves.
std::optional<Rational::Int> parse_digits(std::string_view digits);

// Parses a decimal number: [+-]? ( D+ | D+ '.' D* | '.' D+ ), ASCII digits only, no spaces, no
// exponent. "1.25" -> 5/4, "-.5" -> -1/2, "3." -> 3. nullopt if malformed or out of range (more than
// kMaxDigits significant digits in the numerator or the scale).
std::optional<Rational> parse_decimal(std::string_view text);

// Decimal representation of an __int128.
std::string int128_to_string(Rational::Int value);

}  // namespace illume::reward

// The math reward (GSM8K, MATH500, AIME, AMC; METHOD.md section 5): the response's last \boxed{...}
// must equal the reference answer after normalisation.
//
// Decisions:
// - Extraction: the LAST "\boxed" or "\fbox" command (a following letter means another command,
//   e.g. "\boxedx", which is skipped). "\boxed{...}" takes the brace group, counting nested braces
//   and ignoring escaped ones ("\{", "\}"); an unbalanced group gives nullopt (we do not fall back to
//   an earlier box). "\boxed 5" / "\boxed5" take one token up to whitespace or '$'.
// - No fallback: a response without \boxed scores 0 (formatted = false). The prompt asks for
//   \boxed{}, as in the paper's math setting; rewarding "the last number in the text" would reward
//   unformatted guesses.
// - Reward: 1 if equal, else 0 (no partial format reward). A boxed answer longer than
//   kMathMaxAnswerLength characters scores 0.
// - Equality (math_answers_equal): both sides are normalised; if both parse as numbers (integers,
//   decimals, a/b, \frac{a}{b}, mixed numbers "1\frac{4}{5}", negatives; after dropping %, $, degrees
//   and units) they are compared as exact rationals, so "\frac{1}{2}" == "0.5" == "1/2" but
//   "0.333" != "\frac{1}{3}". Otherwise the normalised strings must be identical (and non-empty).
//   Lists and tuples are compared as strings: order matters.
// - Percent: the sign is DROPPED ("50\%" == "50", as in MATH/verl normalisation), so "50\%" != "0.5".
// - Mixed numbers: an integer immediately followed by \frac{p}{q} is integer + p/q ("137 \frac{1}{2}"
//   == 275/2), the MATH dataset's convention, not multiplication.
// - Unicode: the minus sign U+2212 becomes '-', U+00D7 "\times", U+00F7 "\div", U+03C0 "\pi",
//   U+00B0 (degree) is dropped, no-break space is a space. (Countdown, by contrast, rejects them.)
// - Units: see normalize_math_answer.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "illume/rl/reward/rational.h"
#include "illume/rl/reward/reward_result.h"

namespace illume::reward {

inline constexpr std::size_t kMathMaxAnswerLength = 1000;

// The contents of the last \boxed{...} / \fbox{...} / "\boxed 5" (not normalised); nullopt if none
// or if the last one is unbalanced. Linear time, no recursion.
std::optional<std::string> extract_last_boxed(std::string_view text);

// Canonical form of an answer, applied in this order (linear time, bounded recursion):
//  1. Unicode signs as above; all whitespace becomes spaces.
//  2. LaTeX spacing and decoration: "\!" removed; "\," "\;" "\:" "\ " "~" "\quad" "\qquad" become
//     spaces; \left \right \big... and \displaystyle removed; \dfrac and \tfrac become \frac; \neq
//     \leq \geq become \ne \le \ge; "^\circ", "^{\circ}", "\circ", "\degree" removed; "\(" "\)" "\["
//     "\]" "$" "\$" "%" "\%" removed; bmatrix becomes pmatrix.
//  3. \text{...} \textbf \textrm \textit \textnormal \mathrm \mathbf \mathit \mbox \boxed \fbox are
//     unwrapped to their contents.
//  4. A trailing sentence period is dropped.
//  5. Trailing units after a value (a token ending in a digit, '}', ')' or ']') are dropped, also
//     with an exponent ("cm^2") or attached ("5cm"); the list (case-insensitive):
//       currency: dollar(s) cent(s) euro(s) pound(s) yen rupee(s) usd
//       length:   m mm cm km meter(s) metre(s) kilometer(s) kilometre(s) centimeter(s)
//                 millimeter(s) inch inches ft foot feet yard(s) yd mile(s)
//       area/volume words: square sq cubic unit(s)
//       angle:    degree(s) deg radian(s)
//       time:     second(s) sec(s) minute(s) min(s) hour(s) hr(s) day(s) week(s) month(s) year(s)
//       mass, volume: gram(s) kg kilogram(s) lb(s) ounce(s) oz ton(s) liter(s) litre(s) ml
//                 gallon(s) cup(s)
//       speed and other: mph kmh kph percent point(s) per
//     And a number followed only by words of letters ("5 apples") becomes the number, unless a
//     word is "and", "or" or "to" ("3 and 4" stays).
//  6. All spaces removed.
//  7. "x=5" -> "5" when the left side is a variable (a letter, optionally a second letter or a
//     subscript, or a command like \theta); "x\in[-2,7]" -> "[-2,7]".
//  8. \frac ab and \frac{a}b -> \frac{a}{b} (one token each, as TeX reads them); \sqrt x -> \sqrt{x}
//     and \sqrt13 -> \sqrt{13} (a run of digits, as verl reads it); "^{2}" -> "^2", "_{5}" -> "_5".
//  9. a/b with integer a and b -> \frac{a}{b}.
// 10. Thousands separators when the whole answer is one number: "1,000" -> "1000".
// 11. Numbers: leading zeros "025" -> "25", trailing decimal zeros "27.0" -> "27", "1.50" -> "1.5",
//     ".5" -> "0.5".
// 12. Braces around the whole answer removed ("{5}" -> "5"); "(C)" -> "C" for one capital letter.
std::string normalize_math_answer(std::string_view answer);

// The exact value of an already-normalised answer if it is a plain number (see above); nullopt
// otherwise or if out of range.
std::optional<Rational> parse_math_number(std::string_view normalized);

bool math_answers_equal(std::string_view predicted, std::string_view reference);

// GSM8K's reference: the text after the last "####", trimmed, commas removed ("#### 1,000" ->
// "1000"). Throws illume::Error if there is no "####" or nothing after it.
std::string gsm8k_reference_answer(std::string_view answer_field);

RewardResult math_reward(std::string_view response, std::string_view reference_answer);

}  // namespace illume::reward

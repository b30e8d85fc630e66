#include "illume/rl/reward/math.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <vector>

#include "illume/rl/reward/detail_text.h"
#include "illume/util/text.h"
#include "illume/util/error.h"

namespace illume::reward {

namespace {

constexpr std::size_t kNone = std::string::npos;
// Recursion bound when rewriting nested brace groups; deeper groups are copied unchanged.
constexpr int kMaxGroupDepth = 64;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Replaces every occurrence of `from` (non-empty) in one linear pass.
std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  std::size_t start = 0;
  while (true) {
    std::size_t pos = s.find(from, start);
    if (pos == std::string_view::npos) break;
    out.append(s.substr(start, pos - start));
    out.append(to);
    start = pos + from.size();
  }
  out.append(s.substr(start));
  return out;
}

// match[i] = index of the '}' closing the '{' at i (kNone if unmatched or not an open brace).
// Escaped braces "\{" "\}" (and anything after a backslash) are not grouping characters.
std::vector<std::size_t> match_braces(std::string_view s) {
  std::vector<std::size_t> match(s.size(), kNone);
  std::vector<std::size_t> open;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '{') {
      open.push_back(i);
    } else if (s[i] == '}' && !open.empty()) {
      match[open.back()] = i;
      open.pop_back();
    }
  }
  return match;
}

// ---- step 1: Unicode ------------------------------------------------------------------------------

std::string replace_unicode(std::string_view s) {
  static const std::array<std::pair<std::string_view, std::string_view>, 7> kReplacements = {{
      {"\xE2\x88\x92", "-"},         // U+2212 minus sign
      {"\xC3\x97", "\\times "},      // U+00D7 multiplication sign
      {"\xC3\xB7", "\\div "},        // U+00F7 division sign
      {"\xCF\x80", "\\pi "},         // U+03C0 pi
      {"\xC2\xB0", ""},              // U+00B0 degree sign
      {"\xC2\xA0", " "},             // U+00A0 no-break space
      {"\xE2\x80\x89", " "},         // U+2009 thin space
  }};
  std::string out(s);
  for (auto& [from, to] : kReplacements)
    if (out.find(from) != std::string::npos) out = replace_all(out, from, to);
  return out;
}

// ---- steps 2 and 3: LaTeX commands --------------------------------------------------------------

bool one_of(std::string_view name, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string rewrite_commands(std::string_view s) {
  std::vector<std::size_t> match = match_braces(s);
  std::vector<bool> drop_close(s.size(), false);
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      char next = s[i + 1];
      if (is_letter(next)) {
        std::size_t j = i + 1;
        while (j < s.size() && is_letter(s[j])) ++j;
        std::string_view name = s.substr(i + 1, j - i - 1);
        if (one_of(name, {"left", "right"})) {
          if (j < s.size() && s[j] == '.') ++j;  // \left. and \right. are invisible delimiters
        } else if (one_of(name, {"big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr",
                                 "displaystyle", "textstyle", "circ", "degree"})) {
          // dropped
        } else if (one_of(name, {"dfrac", "tfrac"})) {
          out += "\\frac";
        } else if (one_of(name, {"quad", "qquad"})) {
          out += ' ';
        } else if (name == "neq") {
          out += "\\ne";
        } else if (name == "leq") {
          out += "\\le";
        } else if (name == "geq") {
          out += "\\ge";
        } else if (one_of(name, {"text", "textbf", "textrm", "textit", "textnormal", "mathrm", "mathbf", "mathit",
                                 "mbox", "boxed", "fbox"})) {
          std::size_t k = j;
          while (k < s.size() && s[k] == ' ') ++k;
          if (k < s.size() && s[k] == '{' && match[k] != kNone) {
            out += ' ';
            drop_close[match[k]] = true;
            j = k + 1;
          }
        } else {
          out.append(s.substr(i, j - i));
        }
        i = j;
        continue;
      }
      if (next == ',' || next == ';' || next == ':' || next == ' ') {
        out += ' ';
      } else if (next == '!' || next == '(' || next == ')' || next == '[' || next == ']' || next == '%' ||
                 next == '$') {
        // removed: negative space, math delimiters, percent and dollar signs
      } else {
        out += c;
        out += next;  // "\\", "\{", "\}", ...
      }
      i += 2;
      continue;
    }
    if (c == '}' && drop_close[i]) {
      // the end of an unwrapped \text{...}
    } else if (is_space(c) || c == '~') {
      out += ' ';
    } else if (c == '$' || c == '%') {
      // dollars and percent dropped (see math.h)
    } else {
      out += c;
    }
    ++i;
  }
  if (out.find("bmatrix") != std::string::npos) out = replace_all(out, "bmatrix", "pmatrix");
  return out;
}

// ---- step 5: units ----------------------------------------------------------------------------------

constexpr auto kUnits = std::to_array<std::string_view>({
    "dollar", "dollars", "cent", "cents", "euro", "euros", "pound", "pounds", "yen", "rupee", "rupees", "usd",
    "m", "mm", "cm", "km", "meter", "meters", "metre", "metres", "kilometer", "kilometers", "kilometre",
    "kilometres", "centimeter", "centimeters", "millimeter", "millimeters", "inch", "inches", "ft", "foot",
    "feet", "yard", "yards", "yd", "mile", "miles",
    "square", "sq", "cubic", "unit", "units",
    "degree", "degrees", "deg", "radian", "radians",
    "second", "seconds", "sec", "secs", "minute", "minutes", "min", "mins", "hour", "hours", "hr", "hrs",
    "day", "days", "week", "weeks", "month", "months", "year", "years",
    "gram", "grams", "kg", "kilogram", "kilograms", "lb", "lbs", "ounce", "ounces", "oz", "ton", "tons",
    "liter", "liters", "litre", "litres", "ml", "gallon", "gallons", "cup", "cups",
    "mph", "kmh", "kph", "percent", "point", "points", "per"});

bool is_unit(std::string_view word) {
  if (word.empty() || word.size() > 16) return false;
  std::string lower;
  for (char c : word) lower.push_back(to_lower(c));
  return std::find(kUnits.begin(), kUnits.end(), std::string_view(lower)) != kUnits.end();
}

// "cm^2" -> "cm", "cm^{3}" -> "cm", "feet." -> "feet".
std::string_view strip_exponent(std::string_view token) {
  while (!token.empty() && token.back() == '.') token.remove_suffix(1);
  for (std::string_view suffix : {"^{2}", "^{3}", "^2", "^3"}) {
    if (token.size() > suffix.size() && token.substr(token.size() - suffix.size()) == suffix) {
      token.remove_suffix(suffix.size());
      break;
    }
  }
  return token;
}

bool ends_like_value(std::string_view token) {
  if (token.empty()) return false;
  char c = token.back();
  if (is_digit(c) || c == '}' || c == ')' || c == ']') return true;
  return token.size() >= 3 && token.substr(token.size() - 3) == "\\pi";
}

bool is_plain_number_token(std::string_view token) {
  bool digit = false;
  for (char c : token) {
    if (is_digit(c)) digit = true;
    else if (c != '.' && c != ',' && c != '-' && c != '+') return false;
  }
  return digit;
}

bool is_word(std::string_view token) {
  while (!token.empty() && (token.back() == '.' || token.back() == ',')) token.remove_suffix(1);
  // "3 and 4", "3 or 4" are not a number with a label.
  if (token == "and" || token == "or" || token == "to") return false;
  return token.size() >= 2 && std::all_of(token.begin(), token.end(), is_letter);
}

std::string drop_units(std::string_view s) {
  std::vector<std::string_view> tokens;
  for (std::size_t i = 0; i < s.size();) {
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) tokens.push_back(s.substr(i, j - i));
    i = j;
  }
  if (tokens.empty()) return "";
  // "5 apples", "18 dollars a day": a number followed only by words.
  if (tokens.size() > 1 && is_plain_number_token(tokens[0]) &&
      std::all_of(tokens.begin() + 1, tokens.end(), is_word)) {
    tokens.resize(1);
  }
  // Trailing unit tokens after something that ends like a value.
  std::size_t keep = tokens.size();
  while (keep > 1 && is_unit(strip_exponent(tokens[keep - 1]))) --keep;
  if (keep < tokens.size() && ends_like_value(tokens[keep - 1])) tokens.resize(keep);
  // A unit attached to a number: "5cm", "12km^2".
  std::string last(strip_exponent(tokens.back()));
  std::string result;
  std::size_t letters = last.size();
  while (letters > 0 && is_letter(last[letters - 1])) --letters;
  bool attached = letters > 0 && letters < last.size() && last.size() - letters >= 2 && is_digit(last[letters - 1]) &&
                  is_unit(std::string_view(last).substr(letters));
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    if (t > 0) result += ' ';
    if (t + 1 == tokens.size() && attached) result += last.substr(0, letters);
    else result.append(tokens[t]);
  }
  return result;
}

// ---- step 7: "x = 5" -------------------------------------------------------------------------------

bool is_variable(std::string_view lhs) {
  if (lhs.empty()) return false;
  if (lhs[0] == '\\') return lhs.size() > 1 && std::all_of(lhs.begin() + 1, lhs.end(), is_letter);
  if (!is_letter(lhs[0])) return false;
  if (lhs.size() == 1) return true;
  if (lhs.size() == 2) return is_letter(lhs[1]);
  if (lhs[1] != '_') return false;
  std::string_view sub = lhs.substr(2);
  if (sub.size() >= 2 && sub.front() == '{' && sub.back() == '}') sub = sub.substr(1, sub.size() - 2);
  return !sub.empty() && sub.size() <= 3 && std::all_of(sub.begin(), sub.end(), [](char c) {
    return is_letter(c) || is_digit(c);
  });
}

std::string drop_variable(std::string s) {
  if (std::count(s.begin(), s.end(), '=') == 1) {
    std::size_t eq = s.find('=');
    if (eq + 1 < s.size() && is_variable(std::string_view(s).substr(0, eq))) return s.substr(eq + 1);
  }
  if (s.size() > 4 && is_letter(s[0]) && s.compare(1, 3, "\\in") == 0 && !is_letter(s[4])) return s.substr(4);
  return s;
}

// ---- step 8: \frac, \sqrt, ^{x} ------------------------------------------------------------------

class GroupRewriter {
 public:
  explicit GroupRewriter(std::string_view s) : s_(s), match_(match_braces(s)) {}

  std::string run() {
    out_.reserve(s_.size() + 16);
    process(0, s_.size(), 0);
    return std::move(out_);
  }

 private:
  bool group_at(std::size_t i, std::size_t end) const { return i < end && s_[i] == '{' && match_[i] != kNone && match_[i] < end; }

  // Emits the group at i (which must be one), rewriting inside; returns the index after it.
  std::size_t group(std::size_t i, int depth) {
    std::size_t close = match_[i];
    out_ += '{';
    if (depth < kMaxGroupDepth) process(i + 1, close, depth + 1);
    else out_.append(s_.substr(i + 1, close - i - 1));
    out_ += '}';
    return close + 1;
  }

  // Emits one argument of \frac or \sqrt as a brace group; returns the index after it.
  std::size_t argument(std::size_t i, std::size_t end, int depth) {
    if (i >= end || s_[i] == '{' || s_[i] == '}') {
      if (i < end && group_at(i, end)) return group(i, depth);
      return i;  // nothing, or an unmatched brace: no argument to wrap
    }
    std::size_t j = i + 1;
    if (s_[i] == '\\') {
      while (j < end && is_letter(s_[j])) ++j;
      if (j == i + 1 && j < end) ++j;  // "\{" and the like
    }
    out_ += '{';
    out_.append(s_.substr(i, j - i));
    out_ += '}';
    return j;
  }

  void process(std::size_t begin, std::size_t end, int depth) {
    std::size_t i = begin;
    while (i < end) {
      char c = s_[i];
      if (group_at(i, end)) {
        i = group(i, depth);
      } else if (c == '\\') {
        std::size_t j = i + 1;
        while (j < end && is_letter(s_[j])) ++j;
        if (j == i + 1) {  // "\\", "\{": two characters verbatim
          j = std::min(i + 2, end);
          out_.append(s_.substr(i, j - i));
          i = j;
          continue;
        }
        std::string_view name = s_.substr(i + 1, j - i - 1);
        out_.append(s_.substr(i, j - i));
        i = j;
        if (name == "frac") {
          i = argument(i, end, depth);
          i = argument(i, end, depth);
        } else if (name == "sqrt" && i < end && is_digit(s_[i])) {
          // \sqrt13 -> \sqrt{13}: a run of digits, as verl reads it (TeX would take one digit)
          std::size_t j2 = i;
          while (j2 < end && is_digit(s_[j2])) ++j2;
          out_ += '{';
          out_.append(s_.substr(i, j2 - i));
          out_ += '}';
          i = j2;
        } else if (name == "sqrt" && !(i < end && s_[i] == '[')) {
          i = argument(i, end, depth);
        }
      } else if ((c == '^' || c == '_') && i + 3 < end && group_at(i + 1, end) && match_[i + 1] == i + 3 &&
                 s_[i + 2] != '\\') {
        out_ += c;  // "^{2}" -> "^2"
        out_ += s_[i + 2];
        i += 4;
      } else {
        out_ += c;
        ++i;
      }
    }
  }

  std::string_view s_;
  std::vector<std::size_t> match_;
  std::string out_;
};

// ---- step 9: a/b ---------------------------------------------------------------------------------

std::string slash_fractions(std::string_view s) {
  if (s.find('/') == std::string_view::npos) return std::string(s);
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (is_digit(s[i]) && (i == 0 || (!is_digit(s[i - 1]) && s[i - 1] != '.' && s[i - 1] != '/'))) {
      std::size_t a_end = i;
      while (a_end < s.size() && is_digit(s[a_end])) ++a_end;
      if (a_end + 1 < s.size() && s[a_end] == '/' && is_digit(s[a_end + 1])) {
        std::size_t b_end = a_end + 1;
        while (b_end < s.size() && is_digit(s[b_end])) ++b_end;
        if (b_end == s.size() || (s[b_end] != '.' && s[b_end] != '/')) {
          out += "\\frac{";
          out.append(s.substr(i, a_end - i));
          out += "}{";
          out.append(s.substr(a_end + 1, b_end - a_end - 1));
          out += '}';
          i = b_end;
          continue;
        }
      }
      out.append(s.substr(i, a_end - i));
      i = a_end;
      continue;
    }
    out += s[i++];
  }
  return out;
}

// ---- step 10: thousands separators -----------------------------------------------------------------

std::string drop_thousands_separators(const std::string& s) {
  // [+-]? D{1,3} (, DDD)+ (. D*)?
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  std::size_t first = i;
  while (i < s.size() && is_digit(s[i])) ++i;
  if (i == first || i - first > 3) return s;
  int groups = 0;
  while (i < s.size() && s[i] == ',') {
    for (std::size_t k = 1; k <= 3; ++k)
      if (i + k >= s.size() || !is_digit(s[i + k])) return s;
    i += 4;
    ++groups;
  }
  if (groups == 0) return s;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i;
  }
  if (i != s.size()) return s;
  std::string out;
  for (char c : s)
    if (c != ',') out += c;
  return out;
}

// ---- step 11: number tokens --------------------------------------------------------------------------

std::string clean_numbers(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    bool starts_integer = is_digit(s[i]) && (i == 0 || (!is_digit(s[i - 1]) && s[i - 1] != '.'));
    bool starts_fraction = s[i] == '.' && i + 1 < s.size() && is_digit(s[i + 1]) && (i == 0 || !is_digit(s[i - 1]));
    if (!starts_integer && !starts_fraction) {
      out += s[i++];
      continue;
    }
    std::size_t j = i;
    while (j < s.size() && is_digit(s[j])) ++j;
    std::string_view integer_part = s.substr(i, j - i);
    while (integer_part.size() > 1 && integer_part.front() == '0') integer_part.remove_prefix(1);
    std::string_view fraction_part;
    if (j + 1 < s.size() && s[j] == '.' && is_digit(s[j + 1])) {
      std::size_t k = j + 1;
      while (k < s.size() && is_digit(s[k])) ++k;
      fraction_part = s.substr(j + 1, k - j - 1);
      j = k;
    }
    while (!fraction_part.empty() && fraction_part.back() == '0') fraction_part.remove_suffix(1);
    out.append(integer_part.empty() ? std::string_view("0") : integer_part);
    if (!fraction_part.empty()) {
      out += '.';
      out.append(fraction_part);
    }
    i = j;
  }
  return out;
}

// ---- step 12: outer braces ---------------------------------------------------------------------------

std::string strip_outer_braces(const std::string& s) {
  std::vector<std::size_t> match = match_braces(s);
  std::size_t n = s.size(), i = 0;
  while (2 * i + 1 < n && s[i] == '{' && match[i] == n - 1 - i) ++i;
  return s.substr(i, n - 2 * i);
}

// "{" a "}" where a is a signed decimal; returns the index after the group or kNone.
std::size_t parse_braced_decimal(std::string_view s, std::size_t i, std::optional<Rational>& value) {
  if (i >= s.size() || s[i] != '{') return kNone;
  std::size_t close = s.find('}', i);
  if (close == std::string_view::npos) return kNone;
  value = parse_decimal(s.substr(i + 1, close - i - 1));
  return value ? close + 1 : kNone;
}

}  // namespace

std::optional<std::string> extract_last_boxed(std::string_view text) {
  static constexpr std::string_view kBoxed = "\\boxed", kFbox = "\\fbox";
  std::size_t end = std::string_view::npos;  // search at or before this position
  std::size_t boxed = text.rfind(kBoxed, end), fbox = text.rfind(kFbox, end);
  std::size_t start = kNone, name_end = kNone;
  while (boxed != kNone || fbox != kNone) {
    bool take_boxed = fbox == kNone || (boxed != kNone && boxed > fbox);
    std::size_t at = take_boxed ? boxed : fbox;
    std::size_t after = at + (take_boxed ? kBoxed.size() : kFbox.size());
    if (after >= text.size() || !is_letter(text[after])) {
      start = at;
      name_end = after;
      break;
    }
    // "\boxedx" is another command: look further back (each search resumes where it stopped).
    if (at == 0) break;
    if (take_boxed) boxed = text.rfind(kBoxed, at - 1);
    else fbox = text.rfind(kFbox, at - 1);
  }
  if (start == kNone) return std::nullopt;
  std::size_t i = name_end;
  while (i < text.size() && is_space(text[i])) ++i;
  if (i >= text.size()) return std::nullopt;
  if (text[i] == '{') {
    int depth = 0;
    for (std::size_t j = i; j < text.size(); ++j) {
      char c = text[j];
      if (c == '\\') {
        ++j;  // an escaped character never opens or closes the group
      } else if (c == '{') {
        ++depth;
      } else if (c == '}' && --depth == 0) {
        return std::string(text.substr(i + 1, j - i - 1));
      }
    }
    return std::nullopt;  // unbalanced
  }
  std::size_t j = i;
  while (j < text.size() && !is_space(text[j]) && text[j] != '$') ++j;
  if (j == i) return std::nullopt;
  return std::string(text.substr(i, j - i));
}

std::string normalize_math_answer(std::string_view answer) {
  std::string s = replace_unicode(answer);
  // Degrees first, as whole sequences, so that the '^' goes too.
  for (std::string_view degree : {"^{\\circ}", "^\\circ", "^{\\degree}", "^\\degree"})
    if (s.find(degree) != std::string::npos) s = replace_all(s, degree, "");
  s = rewrite_commands(s);
  std::string_view view = trim(s);
  while (!view.empty() && (view.back() == '.' || view.back() == ' ')) view.remove_suffix(1);
  s = drop_units(view);
  s.erase(std::remove(s.begin(), s.end(), ' '), s.end());
  s = drop_variable(std::move(s));
  s = GroupRewriter(s).run();
  s = slash_fractions(s);
  s = drop_thousands_separators(s);
  s = clean_numbers(s);
  s = strip_outer_braces(s);
  if (s.size() == 3 && s[0] == '(' && s[2] == ')' && s[1] >= 'A' && s[1] <= 'Z') s = s.substr(1, 1);
  return s;
}

std::optional<Rational> parse_math_number(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  std::optional<Rational> value;
  static constexpr std::string_view kFrac = "\\frac";
  auto parse_frac = [&](std::string_view t) -> std::optional<Rational> {
    // \frac{a}{b} exactly, a and b signed decimals
    if (t.substr(0, kFrac.size()) != kFrac) return std::nullopt;
    std::optional<Rational> a, b;
    std::size_t i = parse_braced_decimal(t, kFrac.size(), a);
    if (i == kNone) return std::nullopt;
    i = parse_braced_decimal(t, i, b);
    if (i != t.size()) return std::nullopt;
    auto r = divide(*a, *b);
    if (!r.ok()) return std::nullopt;
    return r.value;
  };
  if (s.substr(0, kFrac.size()) == kFrac) {
    value = parse_frac(s);
  } else {
    std::size_t i = 0;
    while (i < s.size() && (is_digit(s[i]) || s[i] == '.')) ++i;
    std::string_view head = s.substr(0, i), rest = s.substr(i);
    auto number = parse_decimal(head);
    if (!number) return std::nullopt;
    if (rest.empty()) {
      value = number;
    } else if (rest[0] == '/') {
      auto denominator = parse_decimal(rest.substr(1));
      if (!denominator) return std::nullopt;
      auto r = divide(*number, *denominator);
      if (r.ok()) value = r.value;
    } else if (rest.substr(0, kFrac.size()) == kFrac && head.find('.') == std::string_view::npos) {
      // Mixed number: 1\frac{4}{5} = 9/5; the fraction must be a plain non-negative a/b.
      auto fraction = parse_frac(rest);
      if (fraction && fraction->numerator() >= 0) {
        auto r = add(*number, *fraction);
        if (r.ok()) value = r.value;
      }
    }
  }
  if (!value) return std::nullopt;
  return negative ? negate(*value) : *value;
}

bool math_answers_equal(std::string_view predicted, std::string_view reference) {
  std::string a = normalize_math_answer(predicted), b = normalize_math_answer(reference);
  if (a.empty() || b.empty()) return false;
  if (a == b) return true;
  auto x = parse_math_number(a), y = parse_math_number(b);
  return x && y && *x == *y;
}

std::string gsm8k_reference_answer(std::string_view answer_field) {
  std::size_t marker = answer_field.rfind("####");
  if (marker == std::string_view::npos) fail("GSM8K answer has no '#### N' line");
  std::string out;
  for (char c : trim(answer_field.substr(marker + 4)))
    if (c != ',') out += c;
  if (out.empty()) fail("GSM8K answer has nothing after '####'");
  return out;
}

RewardResult math_reward(std::string_view response, std::string_view reference_answer) {
  auto boxed = extract_last_boxed(response);
  if (!boxed) {
    bool has_box = response.find("\\boxed") != std::string_view::npos || response.find("\\fbox") != std::string_view::npos;
    return {0.0, false, false, has_box ? "no complete \\boxed{...} answer" : "no \\boxed answer"};
  }
  std::string_view answer = trim(*boxed);
  if (answer.empty()) return {0.0, false, false, "empty \\boxed{}"};
  if (answer.size() > kMathMaxAnswerLength)
    return {0.0, false, false, fmt::format("answer too long ({} > {} characters)", answer.size(), kMathMaxAnswerLength)};
  if (math_answers_equal(answer, reference_answer)) return {1.0, true, true, "correct"};
  return {0.0, false, true,
          fmt::format("answer '{}' != '{}'", detail::excerpt(normalize_math_answer(answer)),
                      detail::excerpt(normalize_math_answer(reference_answer)))};
}

}  // namespace illume::reward

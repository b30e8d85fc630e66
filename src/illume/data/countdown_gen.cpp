#include "illume/data/countdown_gen.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "illume/util/error.h"
#include "illume/util/random.h"

namespace illume::data {

namespace {

// SplitMix64 (util/random.h): tiny, portable, and the same on every platform (std:: distributions are not).
struct Rng {
  std::uint64_t state;
  std::uint64_t next() {
    const std::uint64_t z = splitmix64(state);
    state += 0x9E3779B97F4A7C15ull;
    return z;
  }
  // Uniform in [0, n), n > 0, without modulo bias (rejecting the top of the range, unlike
  // SplitMix64::below: the generated puzzles depend on it, so it stays).
  std::uint64_t below(std::uint64_t n) {
    std::uint64_t limit = ~0ull - (~0ull % n);
    for (;;) {
      std::uint64_t x = next();
      if (x < limit) return x % n;
    }
  }
  std::int64_t between(std::int64_t lo, std::int64_t hi) {  // inclusive
    return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo + 1)));
  }
};

struct Node {
  std::int64_t value = 0;
  std::string expr;
  int prec = 3;  // 3 atom, 2 multiplicative, 1 additive
};

std::string wrap(const Node& n, bool paren) { return paren ? "(" + n.expr + ")" : n.expr; }

Node combine(const Node& a, const Node& b, char op, std::int64_t value) {
  Node n;
  n.value = value;
  switch (op) {
    case '+': n.expr = a.expr + "+" + b.expr; n.prec = 1; break;
    case '-': n.expr = a.expr + "-" + wrap(b, b.prec == 1); n.prec = 1; break;
    case '*': n.expr = wrap(a, a.prec == 1) + "*" + wrap(b, b.prec == 1); n.prec = 2; break;
    default: n.expr = wrap(a, a.prec == 1) + "/" + wrap(b, b.prec < 3); n.prec = 2; break;
  }
  return n;
}

struct Chain {
  std::vector<CountdownStep> steps;
  std::string expression;
  std::int64_t value = 0;
  int cost_muldiv = 0, cost_other = 0;
};

void enumerate(std::vector<Node>& pool, std::vector<CountdownStep>& steps, bool allow_mul_div,
               std::vector<Chain>& out) {
  if (pool.size() == 1) {
    Chain c;
    c.steps = steps;
    c.expression = pool[0].expr;
    c.value = pool[0].value;
    for (auto& s : steps) {
      if (s.op == '*' || s.op == '/') ++c.cost_muldiv;
      if (s.op != '+') ++c.cost_other;
    }
    out.push_back(std::move(c));
    return;
  }
  for (std::size_t i = 0; i < pool.size(); ++i) {
    for (std::size_t j = i + 1; j < pool.size(); ++j) {
      // The larger operand first (keeps every step's result positive for - and /).
      const Node& x = pool[i].value >= pool[j].value ? pool[i] : pool[j];
      const Node& y = pool[i].value >= pool[j].value ? pool[j] : pool[i];
      const char ops[] = {'+', '-', '*', '/'};
      for (char op : ops) {
        std::int64_t v;
        if (op == '+') v = x.value + y.value;
        else if (op == '-') {
          if (x.value == y.value) continue;
          v = x.value - y.value;
        } else if (!allow_mul_div) continue;
        else if (op == '*') v = x.value * y.value;
        else {
          if (y.value <= 1 || x.value % y.value != 0) continue;
          v = x.value / y.value;
        }
        Node merged = combine(x, y, op, v);
        std::vector<Node> next;
        for (std::size_t k = 0; k < pool.size(); ++k)
          if (k != i && k != j) next.push_back(pool[k]);
        next.push_back(merged);
        steps.push_back({x.value, y.value, v, op});
        enumerate(next, steps, allow_mul_div, out);
        steps.pop_back();
      }
    }
  }
}

std::vector<Chain> all_chains(const std::vector<std::int64_t>& nums, bool allow_mul_div) {
  std::vector<Node> pool;
  for (auto n : nums) pool.push_back({n, std::to_string(n), 3});
  std::vector<Chain> out;
  std::vector<CountdownStep> steps;
  enumerate(pool, steps, allow_mul_div, out);
  return out;
}

bool cheaper(const Chain& a, const Chain& b) {
  if (a.cost_muldiv != b.cost_muldiv) return a.cost_muldiv < b.cost_muldiv;
  return a.cost_other < b.cost_other;
}

std::string chain_line(const std::vector<CountdownStep>& steps) {
  std::string line;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (i) line += ", ";
    line += steps[i].text();
  }
  return line;
}

}  // namespace

std::string CountdownStep::text() const { return fmt::format("{}{}{}={}", a, op, b, result); }

CountdownGenOptions countdown_difficulty(const std::string& name) {
  CountdownGenOptions o;
  if (name == "easy") {
    o.min_numbers = o.max_numbers = 3;
    o.max_number = 30;
    o.max_false_starts = 0;
    o.allow_mul_div = false;
  } else if (name == "standard") {
    // the defaults
  } else if (name == "hard") {
    o.min_numbers = o.max_numbers = 4;
    o.max_false_starts = 3;
  } else {
    fail("countdown-gen: unknown difficulty '{}' (valid: easy, standard, hard)", name);
  }
  return o;
}

void validate(const CountdownGenOptions& o) {
  if (o.min_numbers < 2 || o.max_numbers > 5 || o.min_numbers > o.max_numbers)
    fail("countdown-gen: number count must satisfy 2 <= min ({}) <= max ({}) <= 5", o.min_numbers, o.max_numbers);
  if (o.min_number < 1 || o.max_number > 100000 || o.min_number > o.max_number)
    fail("countdown-gen: numbers must satisfy 1 <= min ({}) <= max ({}) <= 100000", o.min_number, o.max_number);
  if (o.min_target > o.max_target)
    fail("countdown-gen: min target ({}) is above max target ({})", o.min_target, o.max_target);
  if (o.max_target < 1) fail("countdown-gen: max target ({}) must be positive", o.max_target);
  if (o.max_false_starts < 0 || o.max_false_starts > 20)
    fail("countdown-gen: false starts ({}) must be between 0 and 20", o.max_false_starts);
}

Json CountdownPuzzle::to_json() const {
  Json steps = Json::array();
  for (auto& s : solution) steps.push_back(s.text());
  return {{"nums", nums}, {"target", target}, {"response", response}, {"solution", expression}, {"steps", steps}};
}

CountdownPuzzle generate_countdown(std::uint64_t seed, std::uint64_t index, const CountdownGenOptions& options) {
  validate(options);
  Rng rng{seed * 0x9E3779B97F4A7C15ull ^ (index + 1) * 0xD1B54A32D192ED03ull};
  rng.next();
  for (int attempt = 0; attempt < 10000; ++attempt) {
    CountdownPuzzle p;
    int count = static_cast<int>(rng.between(options.min_numbers, options.max_numbers));
    for (int i = 0; i < count; ++i) p.nums.push_back(rng.between(options.min_number, options.max_number));
    auto chains = all_chains(p.nums, options.allow_mul_div);
    std::map<std::int64_t, std::size_t> best;  // target -> cheapest chain (first in enumeration order)
    for (std::size_t c = 0; c < chains.size(); ++c) {
      auto v = chains[c].value;
      if (v < options.min_target || v > options.max_target) continue;
      auto it = best.find(v);
      if (it == best.end()) best.emplace(v, c);
      else if (cheaper(chains[c], chains[it->second])) it->second = c;
    }
    if (best.empty()) continue;
    auto pick = best.begin();
    std::advance(pick, static_cast<long>(rng.below(best.size())));
    p.target = pick->first;
    const Chain& sol = chains[pick->second];
    p.solution = sol.steps;
    p.expression = sol.expression;
    std::vector<std::size_t> misses;
    for (std::size_t c = 0; c < chains.size(); ++c)
      if (chains[c].value != p.target) misses.push_back(c);
    int false_starts = static_cast<int>(rng.between(0, options.max_false_starts));
    std::string think;
    for (int k = 0; k < false_starts && !misses.empty(); ++k) {
      std::size_t m = rng.below(misses.size());
      think += chain_line(chains[misses[m]].steps) + " no\n";
      misses.erase(misses.begin() + static_cast<long>(m));
    }
    think += chain_line(sol.steps) + " yes";
    p.response = "<think>\n" + think + "\n</think>\n\n<answer>" + p.expression + "</answer>";
    return p;
  }
  fail("countdown-gen: no reachable target in [{}, {}] after 10000 draws; widen the ranges", options.min_target,
       options.max_target);
}

std::vector<CountdownPuzzle> generate_countdown_set(std::uint64_t seed, std::uint64_t count,
                                                    const CountdownGenOptions& options) {
  std::vector<CountdownPuzzle> out;
  out.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) out.push_back(generate_countdown(seed, i, options));
  return out;
}

std::vector<CountdownStep> solve_countdown(const std::vector<std::int64_t>& nums, std::int64_t target,
                                           bool allow_mul_div) {
  auto chains = all_chains(nums, allow_mul_div);
  const Chain* best = nullptr;
  for (auto& c : chains)
    if (c.value == target && (best == nullptr || cheaper(c, *best))) best = &c;
  return best ? best->steps : std::vector<CountdownStep>{};
}

}  // namespace illume::data

// illume countdown-gen: synthetic Countdown puzzles with solution traces (TinyZero answer format).
//   illume countdown-gen --puzzles N --seed S --out FILE.jsonl [--difficulty easy|standard|hard]
//                        [--numbers 3-4] [--max-number 99] [--false-starts K] [--no-mul-div]
// Each line: {"nums": [...], "target": T, "response": TRACE, "solution": EXPR, "steps": [...]}, readable
// by the countdown task loader (extra fields are ignored) and by `illume sft` as prompt/response data.
#include <cstdio>

#include "cli/command.h"
#include "cli/common.h"
#include "illume/data/countdown_gen.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

namespace {

void setup(CLI::App& app) {
  struct Flags {
    std::int64_t puzzles = 1000;
    std::uint64_t seed = 0;
    std::string out, difficulty = "standard", numbers;
    std::int64_t max_number = -1;
    int false_starts = -1;
    bool no_mul_div = false;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("countdown-gen", "Generate solvable Countdown puzzles with step-by-step solution traces");
  // Signed, so that -1 is an error rather than 2^64-1 puzzles.
  const auto puzzles = illume::cli::integer_range(1, 100'000'000);
  auto* count = cmd->add_option("--puzzles", f->puzzles, "number of puzzles")->check(puzzles)->capture_default_str();
  // -n/--num-samples means samples per prompt everywhere; this count had the old spelling --n.
  illume::cli::add_deprecated_alias(cmd, "--n", f->puzzles, count, puzzles);
  cmd->add_option("--seed", f->seed, "random seed (puzzle i depends only on seed and i)")
      ->check(illume::cli::non_negative_integer())
      ->capture_default_str();
  cmd->add_option("--out", f->out, "output JSONL file")->required();
  cmd->add_option("--difficulty", f->difficulty, "easy | standard | hard (a preset; the flags below override it)")
      ->capture_default_str();
  cmd->add_option("--numbers", f->numbers, "how many numbers per puzzle: K or MIN-MAX (e.g. 3-4)");
  cmd->add_option("--max-number", f->max_number, "largest number drawn (from 1)");
  cmd->add_option("--false-starts", f->false_starts, "at most this many failed attempts in each trace");
  cmd->add_flag("--no-mul-div", f->no_mul_div, "+ and - only");
  cmd->callback([f] {
    auto o = illume::data::countdown_difficulty(f->difficulty);
    if (!f->numbers.empty()) {
      auto dash = f->numbers.find('-');
      try {
        o.min_numbers = std::stoi(f->numbers.substr(0, dash));
        o.max_numbers = dash == std::string::npos ? o.min_numbers : std::stoi(f->numbers.substr(dash + 1));
      } catch (const std::exception&) {
        illume::fail("countdown-gen: --numbers '{}' is not K or MIN-MAX", f->numbers);
      }
    }
    if (f->max_number >= 0) o.max_number = f->max_number;
    if (f->false_starts >= 0) o.max_false_starts = f->false_starts;
    if (f->no_mul_div) o.allow_mul_div = false;
    illume::data::validate(o);
    std::string text;
    for (std::uint64_t i = 0; i < static_cast<std::uint64_t>(f->puzzles); ++i) text += illume::data::generate_countdown(f->seed, i, o).to_json().dump() + "\n";
    illume::write_file_atomic(f->out, text);
    std::fprintf(stderr, "countdown-gen: wrote %llu puzzles to %s\n", static_cast<unsigned long long>(f->puzzles), f->out.c_str());
  });
}
ILLUME_COMMAND(setup);

}  // namespace

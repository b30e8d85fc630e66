// Flags mean the same everywhere (issue 14 item 7): docs/cli.md matches the program's own flag
// definitions, the shared flags have one spelling, range and default in every command, deprecated
// spellings still work with one warning line, and a usage error is one line with status 2. Runs the
// real binary; nothing here loads a model.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common.h"
#include "illume/util/build_paths.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

void expect_usage_error(const test::RunResult& r, const std::string& needle) {
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
  EXPECT_EQ(r.err.rfind("illume: error: ", 0), 0u) << "stderr: " << r.err;
}

const char* kMarker = "<!-- BEGIN illume cli-reference";

}  // namespace

TEST(CliReference, DocsCliMdIsWhatTheProgramDefines) {
  const auto doc = read_file(fs::path(::illume::build::source_dir()) / "docs" / "cli.md");
  const auto marker = doc.find(kMarker);
  ASSERT_NE(marker, std::string::npos) << "docs/cli.md lost its marker line";
  const auto generated = doc.substr(doc.find('\n', marker) + 1);
  auto r = test::run_illume({"cli-reference"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(generated, r.out) << "docs/cli.md is out of date: run `make cli-doc`";
  // Every listed subcommand has its table, and the maintenance command lists itself nowhere.
  auto top = test::run_illume({"--help"});
  bool in_list = false;
  int commands = 0;
  for (const auto& line : lines_of(top.out)) {
    if (line.rfind("Subcommands:", 0) == 0) {
      in_list = true;
      continue;
    }
    if (!in_list || line.size() < 3 || line[0] != ' ' || line[2] == ' ') continue;
    const auto name = line.substr(2, line.find(' ', 2) - 2);
    EXPECT_NE(r.out.find("### `illume " + name + "`"), std::string::npos) << name;
    ++commands;
  }
  EXPECT_GE(commands, 15);
  EXPECT_EQ(top.out.find("cli-reference"), std::string::npos);
}

TEST(CliReference, SharedFlagsHaveOneSpellingAndDefault) {
  // The reference tables (`illume cli-reference`, what docs/cli.md shows): command -> flag -> row.
  auto r = test::run_illume({"cli-reference"});
  ASSERT_EQ(r.status, 0) << r.err;
  struct Row {
    std::string names, value, fallback, meaning;
  };
  std::map<std::string, std::map<std::string, Row>> flags;
  std::string command;
  for (const auto& line : lines_of(r.out)) {
    if (line.rfind("### `illume ", 0) == 0) command = line.substr(12, line.size() - 13);
    if (line.rfind("### Deprecated", 0) == 0) break;
    if (command.empty() || line.rfind("| `", 0) != 0) continue;
    std::vector<std::string> cells;  // split on unescaped pipes
    std::string cell;
    for (std::size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '|' && line[i - 1] != '\\') {
        cells.push_back(cell.substr(cell.find_first_not_of(' ') == std::string::npos ? 0 : cell.find_first_not_of(' ')));
        cell.clear();
      } else {
        cell.push_back(line[i]);
      }
    }
    ASSERT_EQ(cells.size(), 4u) << line;
    for (auto& c : cells) c.erase(c.find_last_not_of(' ') + 1);
    const auto names = cells[0].substr(1, cells[0].size() - 2);
    flags[command][names.substr(names.rfind(',') + 1)] = {names, cells[1], cells[2], cells[3]};
  }
  ASSERT_GE(flags.size(), 14u);  // every command with a flag (`info` has none)
  // -n/--num-samples is samples per prompt (or problem) wherever there is such a thing.
  for (const char* c : {"generate", "eval", "analyze", "score"}) EXPECT_EQ(flags[c]["--num-samples"].names, "-n,--num-samples") << c;
  // --max-new-tokens: one default everywhere (the recipes' rollout.max_response_tokens, 1024).
  for (const char* c : {"generate", "eval", "analyze", "perturb"}) EXPECT_EQ(flags[c]["--max-new-tokens"].fallback, "`1024`") << c;
  // Batch rows have the recipe key's name; the prompt format defaults to the model folder's style.
  for (const char* c : {"generate", "eval", "analyze"}) EXPECT_TRUE(flags[c].count("--max-batch-rows")) << c;
  for (const char* c : {"generate", "eval", "analyze", "perturb"}) {
    EXPECT_TRUE(flags[c].count("--plain")) << c;
    EXPECT_NE(flags[c]["--chat"].meaning.find("the style the model folder records"), std::string::npos) << c;
  }
  // The sampling flags take the same values and mean the same in every command that samples (their
  // defaults may differ: eval is greedy by default).
  for (const char* flag : {"--num-samples", "--temperature", "--top-p", "--top-k", "--greedy", "--seed", "--max-new-tokens",
                           "--max-batch-rows", "--limit", "--chat", "--plain"})
    for (const char* c : {"eval", "analyze"}) EXPECT_EQ(flags[c][flag].value, flags["generate"][flag].value) << c << " " << flag;
  for (const char* flag : {"--temperature", "--top-p", "--top-k", "--greedy", "--max-new-tokens"})
    for (const char* c : {"eval", "analyze"}) EXPECT_EQ(flags[c][flag].meaning, flags["generate"][flag].meaning) << c << " " << flag;
  EXPECT_EQ(flags["perturb"]["--window"].value, flags["analyze"]["--window"].value);
  EXPECT_EQ(flags["analyze"]["--window"].value, "INT in [1, 16777216]");
  // No command lists an old spelling among its flags.
  for (const auto& [c, table] : flags)
    for (const char* old : {"--k", "--batch-rows", "--prompts-per-batch", "--n", "--attention-layers"})
      EXPECT_FALSE(table.count(old)) << c << " lists " << old;
  // --help says what the reference says (the reference is the program's own definitions).
  const auto help = test::run_illume({"perturb", "--help"}).out;
  EXPECT_NE(help.find("--max-new-tokens INT:in [2, 16777216]=1024"), std::string::npos) << help;
  EXPECT_EQ(flags["perturb"]["--max-new-tokens"].value, "INT in [2, 16777216]");
}

TEST(CliReference, DeprecatedSpellingsWorkWithOneWarningLine) {
  const auto dir = test::scratch_dir();
  const auto out = (dir / "p.jsonl").string();
  auto r = test::run_illume({"countdown-gen", "--n", "3", "--out", out});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(lines_of(read_file(out)).size(), 3u);
  EXPECT_NE(r.err.find("illume: warning: --n is deprecated; use --puzzles\n"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("warning", r.err.find("warning") + 1), std::string::npos) << "more than one warning: " << r.err;
  // The old spelling keeps the new one's range, and both at once is an error.
  expect_usage_error(test::run_illume({"countdown-gen", "--n", "-1", "--out", out}), "--n: must be a whole number");
  expect_usage_error(test::run_illume({"countdown-gen", "--n", "2", "--puzzles", "4", "--out", out}),
                     "--n: the deprecated spelling of --puzzles, given too");
  // eval --k is -n: the check that runs before any model loads sees 4 samples.
  r = test::run_illume({"eval", "--model", (dir / "none").string(), "--task", "countdown", "--k", "4", "--out",
                        (dir / "e").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("illume: warning: --k is deprecated; use -n,--num-samples"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("-n 4 needs --temperature > 0"), std::string::npos) << r.err;
}

TEST(CliReference, NumbersOutsideTheirRangeAreOneLineUsageErrors) {
  const auto dir = test::scratch_dir();
  const auto out = (dir / "p.jsonl").string();
  expect_usage_error(test::run_illume({"countdown-gen", "--puzzles", "0", "--out", out}), "--puzzles");
  // An unsigned seed used to take -1 as 2^64-1.
  expect_usage_error(test::run_illume({"countdown-gen", "--seed", "-1", "--out", out}), "--seed: must be a whole number >= 0");
  EXPECT_FALSE(fs::exists(out));
  const auto model = (dir / "none").string();
  // Checked while the command line is read: the model folder (absent here) is never opened.
  expect_usage_error(test::run_illume({"generate", "--model", model, "--prompt", "x", "--temperature", "nan"}),
                     "--temperature: must be a number in [0, 100], got nan");
  expect_usage_error(test::run_illume({"generate", "--model", model, "--prompt", "x", "--top-p", "0"}),
                     "--top-p: must be a number in (0, 1], got 0");
  expect_usage_error(test::run_illume({"generate", "--model", model, "--prompt", "x", "--max-new-tokens", "0"}),
                     "--max-new-tokens");
  expect_usage_error(test::run_illume({"eval", "--model", model, "--task", "countdown", "--out", out, "-n", "0"}),
                     "--num-samples: must be a whole number in [1, 1048576], got 0");
  expect_usage_error(test::run_illume({"analyze", "--model", model, "--responses", out, "--out", out, "--limit", "-5"}),
                     "--limit");
  for (const char* window : {"0", "1000000000"})
    expect_usage_error(test::run_illume({"analyze", "--model", model, "--responses", out, "--out", out, "--window", window}),
                       std::string("--window: must be a whole number in [1, 16777216], got ") + window);
  expect_usage_error(test::run_illume({"perturb", "--model", model, "--prompts", out, "--out", out, "--window", "-3"}),
                     "--window");
  expect_usage_error(test::run_illume({"generate", "--model", model, "--prompt", "x", "--chat", "--plain"}), "--plain");
  expect_usage_error(test::run_illume({"generate", "--model", model, "--prompt", "x", "--no-such-flag"}), "--no-such-flag");
}

TEST(CliReference, ScoreChecksTheSamplesPerProblem) {
  const auto dir = test::scratch_dir();
  write_file_atomic(dir / "data.jsonl", "{\"question\": \"1+1?\", \"answer\": \"#### 2\"}\n"
                                        "{\"question\": \"2+2?\", \"answer\": \"#### 4\"}\n");
  // Unindexed, -n 2: lines 0-1 answer problem 0, lines 2-3 problem 1.
  write_file_atomic(dir / "blocks.jsonl", "{\"response\": \"\\\\boxed{2}\"}\n{\"response\": \"\\\\boxed{3}\"}\n"
                                          "{\"response\": \"\\\\boxed{4}\"}\n{\"response\": \"\\\\boxed{4}\"}\n");
  auto r = test::run_illume({"score", "--task", "gsm8k", "--data", (dir / "data.jsonl").string(), "--responses",
                             (dir / "blocks.jsonl").string(), "-n", "2"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto scored = lines_of(r.out);
  ASSERT_EQ(scored.size(), 4u);
  const int problem[] = {0, 0, 1, 1};
  const bool correct[] = {true, false, true, true};
  for (std::size_t i = 0; i < 4; ++i) {
    const auto row = Json::parse(scored[i]);
    EXPECT_EQ(row.at("index"), problem[i]) << scored[i];
    EXPECT_EQ(row.at("correct"), correct[i]) << scored[i];
  }
  // Without -n the same file is four problems' worth for a two-problem file: an error, as before.
  r = test::run_illume({"score", "--task", "gsm8k", "--data", (dir / "data.jsonl").string(), "--responses",
                        (dir / "blocks.jsonl").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("4 responses, but"), std::string::npos) << r.err;
  // Indexed rows with -n: every problem must have exactly n.
  write_file_atomic(dir / "indexed.jsonl", "{\"prompt_index\": 0, \"sample_index\": 0, \"response\": \"\\\\boxed{2}\"}\n"
                                           "{\"prompt_index\": 1, \"sample_index\": 0, \"response\": \"\\\\boxed{4}\"}\n"
                                           "{\"prompt_index\": 1, \"sample_index\": 1, \"response\": \"\\\\boxed{4}\"}\n");
  r = test::run_illume({"score", "--task", "gsm8k", "--data", (dir / "data.jsonl").string(), "--responses",
                        (dir / "indexed.jsonl").string(), "-n", "2"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("prompt_index 0 has 1 responses, but -n 2 says each problem has 2"), std::string::npos) << r.err;
}

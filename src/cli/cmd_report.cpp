// illume report: the training dashboard, one self-contained HTML page for several runs side by side.
//   illume report --runs DIR [DIR...] --out FILE.html [--title T]
// A run folder holds metrics.jsonl (required; illume train writes it), config.json, eval-LABEL/summary.json
// (illume eval --out DIR/eval-before, ...) and any report.html below it (illume analyze); see
// src/illume/report/dashboard.h. Prints the output path. Errors name the file: a missing folder or
// metrics.jsonl, a malformed line as FILE:LINE, an empty metrics file.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "illume/report/dashboard.h"
#include "illume/util/error.h"

namespace {

struct ReportArgs {
  std::vector<std::string> runs;
  std::string out;
  std::string title;
};

void run_report(const ReportArgs& args) {
  namespace fs = std::filesystem;
  std::vector<fs::path> dirs(args.runs.begin(), args.runs.end());
  fs::path out = args.out;
  if (out.filename().empty()) illume::fail("--out must name a file (got '{}')", args.out);
  nlohmann::json data = illume::collect_runs(dirs, out);
  if (!args.title.empty()) data["title"] = args.title;
  illume::write_dashboard(out, data);
  std::printf("%s\n", out.string().c_str());
  if (std::fflush(stdout) != 0) illume::fail("cannot write to standard output");
}

void setup(CLI::App& app) {
  auto args = std::make_shared<ReportArgs>();
  auto* cmd = app.add_subcommand("report", "Training dashboard: runs side by side in one HTML page (curves, evals, links)");
  cmd->add_option("--runs", args->runs,
                  "run folders (each with metrics.jsonl; optional config.json, eval-*/summary.json, **/report.html)")
      ->required()
      ->expected(1, -1);
  cmd->add_option("--out", args->out, "the HTML file to write (parent folders are created)")->required();
  cmd->add_option("--title", args->title, "page title (default: Training runs)");
  cmd->callback([args] { run_report(*args); });
}
ILLUME_COMMAND(setup);

}  // namespace

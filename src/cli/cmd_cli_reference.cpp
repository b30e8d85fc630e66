// illume cli-reference (not listed in --help): every subcommand's flags as Markdown tables, the
// generated part of docs/cli.md. `make cli-doc` writes it there; tests/core/test_cli_reference.cpp
// checks that the doc matches the program, so the doc cannot drift from the flags.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/common.h"
#include "illume/util/build_paths.h"

namespace {

// Markdown table cell: pipes escaped, the checkout's own path left out (demo's defaults are absolute).
std::string cell(std::string text) {
  const std::string source = std::string(::illume::build::source_dir()) + "/";
  for (std::size_t at; (at = text.find(source)) != std::string::npos;) text.erase(at, source.size());
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out.push_back(c);
  }
  return out;
}

std::string code(const std::string& text) { return text.empty() ? "" : "`" + cell(text) + "`"; }

std::string reference(const CLI::App& root) {
  std::vector<const CLI::App*> commands;
  for (const auto* sub : root.get_subcommands([](const CLI::App* a) { return !a->get_group().empty(); }))
    commands.push_back(sub);
  std::sort(commands.begin(), commands.end(), [](auto* a, auto* b) { return a->get_name() < b->get_name(); });
  std::string out;
  std::string deprecated;
  for (const auto* cmd : commands) {
    out += "### `illume " + cmd->get_name() + "`\n\n" + cell(cmd->get_description()) + "\n\n";
    out += "| flag | value | default | meaning |\n|---|---|---|---|\n";
    for (const auto* opt : cmd->get_options()) {
      if (opt == cmd->get_help_ptr()) continue;
      const bool positional = opt->get_positional() && opt->get_name(false, true).empty();
      const auto names = positional ? opt->get_name(true, false) : opt->get_name(false, true);
      if (opt->get_group() == illume::cli::kDeprecatedGroup) {
        auto now = opt->get_description();
        if (now.rfind(illume::cli::kDeprecatedUse, 0) == 0) now.erase(0, std::string(illume::cli::kDeprecatedUse).size());
        deprecated += "| `" + cmd->get_name() + "` | `" + names + "` | " + cell(now) + " |\n";
        continue;
      }
      auto type = opt->get_type_size() == 0 ? std::string() : opt->get_type_name();
      std::replace(type.begin(), type.end(), ':', ' ');
      const auto fallback = opt->get_required() ? std::string("required") : code(opt->get_default_str());
      out += "| `" + names + "` | " + cell(type) + " | " + fallback + " | " + cell(opt->get_description()) + " |\n";
    }
    out += "\n";
  }
  out += "### Deprecated spellings\n\nStill accepted, with one warning line on stderr; not listed in `--help`.\n\n";
  out += "| command | old spelling | now |\n|---|---|---|\n" + deprecated;
  return out;
}

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("cli-reference", "Print every subcommand's flags as Markdown (docs/cli.md)");
  cmd->group("");  // a maintenance tool: not listed
  cmd->callback([&app] {
    const auto text = reference(app);
    std::fwrite(text.data(), 1, text.size(), stdout);
  });
}
ILLUME_COMMAND(setup);

}  // namespace

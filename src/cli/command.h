// The `illume` program is thin: each subcommand lives in its own cmd_*.cpp, registers itself here,
// parses and validates flags, calls the library and prints. Errors are illume::Error, printed by main
// as one line "illume: error: ..." with exit status 1; usage errors (CLI11's: an unknown flag, a value
// out of its range) print the same way with status 2. docs/cli.md lists every flag (cmd_cli_reference.cpp).
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace illume::cli {

// setup adds the subcommand to the app and sets its callback.
using CommandSetup = std::function<void(CLI::App& app)>;

std::vector<CommandSetup>& command_registry();

struct RegisterCommand {
  explicit RegisterCommand(CommandSetup setup) { command_registry().push_back(std::move(setup)); }
};

}  // namespace illume::cli

#define ILLUME_CONCAT_INNER(a, b) a##b
#define ILLUME_CONCAT(a, b) ILLUME_CONCAT_INNER(a, b)
// ILLUME_COMMAND(setup_function): registers a subcommand at static-initialisation time.
#define ILLUME_COMMAND(fn) static ::illume::cli::RegisterCommand ILLUME_CONCAT(illume_command_, __LINE__)(fn)

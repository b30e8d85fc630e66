// illume: attention-legible reasoning and attention-guided RL. See README.md.
#include <cstdio>
#include <exception>

#include "cli/command.h"
#include "illume/util/error.h"

namespace illume::cli {
std::vector<CommandSetup>& command_registry() {
  static std::vector<CommandSetup> registry;
  return registry;
}
}  // namespace illume::cli

int main(int argc, char** argv) {
  CLI::App app{"illume: see how a reasoning model structures its thinking through its attention, and train it "
               "with attention-guided credit (GRPO)."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "illume 0.1.0");
  for (auto& setup : illume::cli::command_registry()) setup(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const illume::Error& e) {
    std::fprintf(stderr, "illume: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "illume: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

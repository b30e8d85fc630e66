// illume: attention-legible reasoning and attention-guided RL. See README.md.
#include <c10/util/Exception.h>

#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "cli/command.h"
#include "illume/util/blas_kernel.h"
#include "illume/util/error.h"
#include "illume/util/interrupt.h"

namespace {

// One line, whatever was thrown: torch's errors carry a backtrace (and a second line with the C++
// frame); users see the message.
int report_error(const std::string& message) {
  auto line = message.substr(0, message.find('\n'));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
  std::fprintf(stderr, "illume: error: %s\n", line.c_str());
  return 1;
}

}  // namespace

namespace illume::cli {
std::vector<CommandSetup>& command_registry() {
  static std::vector<CommandSetup> registry;
  return registry;
}
}  // namespace illume::cli

int main(int argc, char** argv) {
  // Before any BLAS work: may re-exec this program with OPENBLAS_CORETYPE set (util/blas_kernel.h).
  illume::select_blas_kernel_at_startup(argv);
  CLI::App app{"illume: see how a reasoning model structures its thinking through its attention, and train it "
               "with attention-guided credit (GRPO)."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "illume 0.1.0");
  for (auto& setup : illume::cli::command_registry()) setup(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const illume::Interrupted& e) {
    report_error(e.what());
    return 130;  // 128 + SIGINT, as a shell reports a process ended by Ctrl-C
  } catch (const illume::Error& e) {
    return report_error(e.what());
  } catch (const c10::Error& e) {
    return report_error(std::string("torch: ") + e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    return report_error("out of memory");
  } catch (const std::exception& e) {
    return report_error(e.what());
  }
  return 0;
}

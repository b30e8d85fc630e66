#include "illume/util/interrupt.h"

#include <unistd.h>

#include <atomic>
#include <csignal>

namespace illume {

namespace {

std::atomic<bool> g_requested{false};
struct sigaction g_old_int, g_old_term;

extern "C" void on_signal(int signal) {
  if (g_requested.exchange(true)) {
    // The second signal: stop now, with the default action.
    std::signal(signal, SIG_DFL);
    std::raise(signal);
    return;
  }
  static const char message[] = "\nillume: stopping after the current step (press Ctrl-C again to stop now)\n";
  [[maybe_unused]] auto written = ::write(STDERR_FILENO, message, sizeof message - 1);
}

}  // namespace

InterruptGuard::InterruptGuard() {
  g_requested = false;
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // reads and writes in progress continue
  sigaction(SIGINT, &action, &g_old_int);
  sigaction(SIGTERM, &action, &g_old_term);
}

InterruptGuard::~InterruptGuard() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

bool InterruptGuard::requested() { return g_requested.load(); }

void InterruptGuard::set_requested(bool value) { g_requested = value; }

}  // namespace illume

// Ctrl-C (SIGINT) and SIGTERM during a long run: the first signal asks the run to stop at the next step
// boundary (metrics flushed, a one-line message saying where to resume from); a second one ends the
// process at once, as without the guard.
#pragma once
#include <string>

#include "illume/util/error.h"

namespace illume {

// Thrown by a run that stopped on request; the CLI prints its message and exits with 130 (128 + SIGINT).
class Interrupted : public Error {
 public:
  explicit Interrupted(const std::string& message) : Error(message) {}
};

// Installs the handlers for its lifetime (restoring the previous ones after).
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  // True once a signal arrived while a guard was installed.
  static bool requested();
  // For tests: as if a signal had arrived (or clears it).
  static void set_requested(bool value);
};

}  // namespace illume

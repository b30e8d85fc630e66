#include "illume/util/say.h"

#include <cstdarg>
#include <cstdio>

namespace illume {

void say(const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::vprintf(format, args);
  va_end(args);
  std::fflush(stdout);
}

}  // namespace illume

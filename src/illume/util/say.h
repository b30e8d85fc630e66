// Lines for the person at the terminal on stdout, flushed at once: long commands (demo, study) print
// their stages with these while progress bars draw on stderr, and the two must not interleave late.
#pragma once

namespace illume {

[[gnu::format(printf, 1, 2)]] void say(const char* format, ...);

}  // namespace illume

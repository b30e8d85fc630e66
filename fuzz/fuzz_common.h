// Shared by the fuzz targets: the input as a file (most parsers take a path, and their messages must
// name it), and the one rule every target checks: bad input may only end in an illume::Error with a
// one-line message that names its source. Any other exception, a crash, a sanitizer report, a hang
// (-timeout) or a memory blow-up (-rss_limit_mb / -malloc_limit_mb) is a finding.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>

#include "illume/util/build_paths.h"
#include "illume/util/error.h"

namespace illume::fuzz {

[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "FINDING: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// A per-process scratch file (in RAM when /dev/shm exists) holding the current input.
inline std::filesystem::path input_file(std::string_view data, const std::string& name) {
  static const std::filesystem::path folder = [] {
    std::filesystem::path base = std::filesystem::is_directory("/dev/shm") ? std::filesystem::path("/dev/shm")
                                                                           : std::filesystem::temp_directory_path();
    auto dir = base / ("illume-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return dir;
  }();
  auto path = folder / name;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) finding("cannot write the scratch file " + path.string());
  if (!data.empty() && std::fwrite(data.data(), 1, data.size(), file) != data.size()) finding("short write");
  std::fclose(file);
  return path;
}

// Runs `parse`; an illume::Error is the expected outcome of bad input, but its message must be one
// line and contain `source` (the file or name the parser was given).
template <typename F>
void expect_clean(const std::string& source, F&& parse) {
  try {
    parse();
  } catch (const illume::Error& e) {
    std::string_view message = e.what();
    if (message.find('\n') != std::string_view::npos) finding("error message is not one line: " + std::string(message));
    if (!source.empty() && message.find(source) == std::string_view::npos)
      finding("error message does not name '" + source + "': " + std::string(message));
    if (message.size() > 4096) finding("error message is " + std::to_string(message.size()) + " bytes long: " +
                                          std::string(message.substr(0, 300)) + "...");
  } catch (const std::exception& e) {
    finding(std::string("escaped exception (not illume::Error): ") + e.what());
  }
}

// ../shared, as the tests find it (ILLUME_SHARED overrides the compiled-in path).
inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("ILLUME_SHARED")) return env;
  return illume::build::shared_dir();
}

inline std::filesystem::path source_dir() { return illume::build::source_dir(); }

}  // namespace illume::fuzz

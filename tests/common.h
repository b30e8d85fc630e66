// Helpers shared by the test suites.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include "illume/util/build_paths.h"
#include "illume/util/error.h"

namespace illume::test {

// ../shared (read-only fixtures and data); ILLUME_SHARED overrides the compiled-in path.
inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("ILLUME_SHARED")) return env;
  return ::illume::build::shared_dir();
}

inline std::filesystem::path shared_path(const std::string& relative) { return shared_dir() / relative; }

// A scratch folder unique to the running test, emptied first.
inline std::filesystem::path scratch_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::temp_directory_path() /
             ("illume-test-" + std::string(info->test_suite_name()) + "-" + info->name() + "-" +
              std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// The message of the illume::Error that f throws; "<no error>" when it throws none (so a check on the
// message fails).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ::illume::Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace illume::test

// Expects `statement` to throw an illume::Error whose message contains `needle` and is one line
// (the project's rule for every error a user can see).
#define EXPECT_ERROR_CONTAINS(statement, needle)                                                      \
  do {                                                                                               \
    const std::string illume_error_ = ::illume::test::error_of([&] { statement; });                 \
    EXPECT_NE(illume_error_.find(needle), std::string::npos)                                         \
        << "statement: " #statement "\n  error: " << illume_error_;                                 \
    EXPECT_EQ(illume_error_.find('\n'), std::string::npos) << "not one line: " << illume_error_;     \
  } while (0)

// Tests that read ../shared say so when it is absent: a visible SKIP normally, a failure when
// ILLUME_REQUIRE_SHARED=1 (as `make check` and CI set), never a silent pass.
#define ILLUME_REQUIRE_SHARED_PATH(relative)                                                            \
  do {                                                                                                 \
    auto illume_required_path_ = ::illume::test::shared_path(relative);                             \
    if (!std::filesystem::exists(illume_required_path_)) {                                             \
      const char* illume_require_ = std::getenv("ILLUME_REQUIRE_SHARED");                              \
      if (illume_require_ != nullptr && std::string(illume_require_) == "1")                           \
        FAIL() << "this test needs " << illume_required_path_ << " (../shared fixtures), which is absent"; \
      GTEST_SKIP() << "this test needs " << illume_required_path_ << " (../shared fixtures), which is absent"; \
    }                                                                                                  \
  } while (0)

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

namespace illume::test {

// The `illume` binary: $ILLUME_BIN (set by ctest), else the one in the build folder.
inline std::string illume_binary() {
  if (const char* env = std::getenv("ILLUME_BIN")) return env;
  return (std::filesystem::path(::illume::build::binary_dir()) / "illume").string();
}

struct RunResult {
  int status = -1;
  std::string out, err;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q.push_back(c);
  }
  return q + "'";
}

// Runs `illume ARGS...`, capturing stdout, stderr and the exit status.
inline RunResult run_illume(const std::vector<std::string>& args) {
  auto dir = std::filesystem::temp_directory_path();
  auto err_path = dir / ("illume-test-stderr-" + std::to_string(::getpid()) + ".txt");
  std::string cmd = shell_quote(illume_binary());
  for (auto& a : args) cmd += " " + shell_quote(a);
  cmd += " 2>" + shell_quote(err_path.string()) + " </dev/null";
  RunResult r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buffer{};
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) r.out.append(buffer.data(), n);
  int status = ::pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream err(err_path);
  std::stringstream ss;
  ss << err.rdbuf();
  r.err = ss.str();
  std::filesystem::remove(err_path);
  return r;
}

}  // namespace illume::test

// Helpers shared by the test suites.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace illume::test {

// ../shared (read-only fixtures and data); ILLUME_SHARED overrides the compiled-in path.
inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("ILLUME_SHARED")) return env;
  return ILLUME_SHARED_DIR;
}

inline std::filesystem::path shared_path(const std::string& relative) { return shared_dir() / relative; }

// A scratch folder unique to the running test, emptied first.
inline std::filesystem::path scratch_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::temp_directory_path() /
             ("illume-test-" + std::string(info->test_suite_name()) + "-" + info->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace illume::test

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

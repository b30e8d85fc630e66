// Absolute paths fixed when the build was configured (defined in a generated file, see
// cmake/build_paths.cpp.in). For the demo's defaults, tests and benchmarks; a program that is
// installed elsewhere must not rely on them.
#pragma once

namespace illume::build {
const char* source_dir();  // the checkout (holds configs/, models/)
const char* shared_dir();  // ../shared beside the checkout (fixtures and data), or -DSHARED_DIR
const char* binary_dir();  // the build folder (holds the `illume` program)
}  // namespace illume::build

// Reads an events file back for the tests, independently of illume's own reader: the TFRecord framing
// parsed here (both CRCs checked), each record decoded by `protoc --decode` against proto/event.proto,
// so that the bytes are checked against the .proto files rather than against the generated code that
// wrote them.
#pragma once
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common.h"
#include "illume/util/build_paths.h"
#include "illume/util/tensorboard.h"

namespace illume::test {

struct DecodedEvent {
  double wall_time = 0;
  std::int64_t step = 0;
  std::string file_version;
  std::vector<std::pair<std::string, double>> values;  // tag, simple_value
};

inline bool protoc_available() { return std::system("command -v protoc >/dev/null 2>&1") == 0; }

inline std::uint64_t little_endian(const std::string& bytes, std::size_t at, int count) {
  std::uint64_t value = 0;
  for (int i = 0; i < count; ++i) value |= std::uint64_t(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  return value;
}

// The records' data; a bad CRC or a truncated record is a test failure.
inline std::vector<std::string> parse_tfrecords(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const auto bytes = buffer.str();
  std::vector<std::string> records;
  std::size_t at = 0;
  while (at < bytes.size()) {
    if (bytes.size() - at < 12) {
      ADD_FAILURE() << path << ": truncated record header at byte " << at;
      break;
    }
    const auto length = little_endian(bytes, at, 8);
    EXPECT_EQ(tensorboard::mask_crc(tensorboard::crc32c(bytes.substr(at, 8))), little_endian(bytes, at + 8, 4))
        << path << ": length CRC at byte " << at;
    if (length + 16 > bytes.size() - at) {
      ADD_FAILURE() << path << ": truncated record at byte " << at;
      break;
    }
    auto data = bytes.substr(at + 12, length);
    EXPECT_EQ(tensorboard::mask_crc(tensorboard::crc32c(data)), little_endian(bytes, at + 12 + length, 4))
        << path << ": data CRC at byte " << at;
    records.push_back(std::move(data));
    at += 12 + length + 4;
  }
  return records;
}

// protoc's text form of one record, parsed into the fields illume writes.
inline DecodedEvent decode_event(const std::string& data) {
  const auto input = std::filesystem::temp_directory_path() / ("illume-test-record-" + std::to_string(::getpid()));
  {
    std::ofstream out(input, std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  const std::string command = "cd " + shell_quote(::illume::build::source_dir()) +
                              " && protoc --decode=illume.tensorboard.Event proto/event.proto < " +
                              shell_quote(input.string()) + " 2>&1";
  std::string text;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe != nullptr) {
    std::array<char, 4096> chunk{};
    std::size_t n;
    while ((n = std::fread(chunk.data(), 1, chunk.size(), pipe)) > 0) text.append(chunk.data(), n);
    EXPECT_EQ(::pclose(pipe), 0) << "protoc --decode failed:\n" << text;
  } else {
    ADD_FAILURE() << "cannot run protoc";
  }
  std::filesystem::remove(input);

  DecodedEvent event;
  std::istringstream lines(text);
  std::string line;
  auto unquote = [](std::string s) { return s.size() >= 2 && s.front() == '"' ? s.substr(1, s.size() - 2) : s; };
  while (std::getline(lines, line)) {
    const auto start = line.find_first_not_of(' ');
    if (start == std::string::npos) continue;
    line = line.substr(start);
    const auto colon = line.find(": ");
    if (colon == std::string::npos) continue;  // "summary {", "value {", "}"
    const auto key = line.substr(0, colon), value = line.substr(colon + 2);
    if (key == "wall_time") event.wall_time = std::strtod(value.c_str(), nullptr);
    else if (key == "step") event.step = std::strtoll(value.c_str(), nullptr, 10);
    else if (key == "file_version") event.file_version = unquote(value);
    else if (key == "tag") event.values.emplace_back(unquote(value), 0.0);
    else if (key == "simple_value" && !event.values.empty()) event.values.back().second = std::strtod(value.c_str(), nullptr);
    else ADD_FAILURE() << "unexpected field in protoc's output: " << line;
  }
  return event;
}

inline std::vector<DecodedEvent> decode_events_file(const std::filesystem::path& path) {
  std::vector<DecodedEvent> events;
  for (const auto& data : parse_tfrecords(path)) events.push_back(decode_event(data));
  return events;
}

}  // namespace illume::test

// protoc (Debian's protobuf-compiler, which `make deps` installs) decodes the files: without it a
// visible SKIP normally, a failure when ILLUME_REQUIRE_SHARED=1 (as `make check` and CI set).
#define ILLUME_REQUIRE_PROTOC()                                                                         \
  do {                                                                                                 \
    if (!::illume::test::protoc_available()) {                                                         \
      const char* illume_require_ = std::getenv("ILLUME_REQUIRE_SHARED");                              \
      if (illume_require_ != nullptr && std::string(illume_require_) == "1")                           \
        FAIL() << "protoc is not installed (Debian package protobuf-compiler; `make deps` installs it)"; \
      GTEST_SKIP() << "protoc is not installed (Debian package protobuf-compiler; `make deps` installs it)"; \
    }                                                                                                  \
  } while (0)

#include "illume/util/tensorboard.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "illume/util/error.h"
#include "illume/util/file.h"
#include "proto/event.pb.h"

namespace illume::tensorboard {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kFilePrefix = "events.out.tfevents.";

// The byte-at-a-time table of the reflected Castagnoli polynomial.
std::array<std::uint32_t, 256> make_crc32c_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) ? 0x82F63B78u : 0u);
    table[i] = crc;
  }
  return table;
}

void put_le(std::string& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

std::uint64_t get_le(const std::string& in, std::size_t at, int bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return value;
}

double unix_seconds_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string hostname() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0 || name[0] == '\0') return "localhost";
  std::string host(name.data());
  // A hostname is letters, digits, '-' and '.'; anything else would make an odd file name.
  for (auto& c : host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) c = '_';
  return host;
}

}  // namespace

std::uint32_t crc32c(std::string_view bytes) {
  static const auto table = make_crc32c_table();
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) crc = table[(crc ^ byte) & 0xff] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

std::uint32_t mask_crc(std::uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

std::string tfrecord(std::string_view data) {
  std::string out;
  out.reserve(data.size() + 16);
  put_le(out, data.size(), 8);
  put_le(out, mask_crc(crc32c(out)), 4);
  out.append(data);
  put_le(out, mask_crc(crc32c(data)), 4);
  return out;
}

Records read_tfrecords(const fs::path& path) {
  const auto bytes = read_file(path);
  Records records;
  std::size_t at = 0;
  while (at < bytes.size()) {
    if (bytes.size() - at < 12) break;  // a header cut short: a kill mid-write
    const auto length = get_le(bytes, at, 8);
    if (mask_crc(crc32c(std::string_view(bytes).substr(at, 8))) != get_le(bytes, at + 8, 4)) {
      records.complete = false;
      break;
    }
    if (length > bytes.size() - at - 12 || bytes.size() - at - 12 - length < 4) break;  // data cut short
    const auto data = std::string_view(bytes).substr(at + 12, length);
    if (mask_crc(crc32c(data)) != get_le(bytes, at + 12 + length, 4)) {
      records.complete = false;
      break;
    }
    records.data.emplace_back(data);
    at += 12 + length + 4;
  }
  return records;
}

namespace {

void flatten(const Json& value, const std::string& tag, std::vector<Scalar>& out) {
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) flatten(item, tag.empty() ? key : tag + "/" + key, out);
  } else if (value.is_number()) {
    out.push_back({tag, value.get<double>()});
  }
}

}  // namespace

std::vector<Scalar> scalars_of(const Json& row) {
  std::vector<Scalar> scalars;
  if (!row.is_object()) return scalars;
  for (const auto& [key, item] : row.items())
    if (key != "step") flatten(item, key, scalars);
  return scalars;
}

std::string file_version_event(double wall_time) {
  Event event;
  event.set_wall_time(wall_time);
  event.set_file_version("brain.Event:2");
  return event.SerializeAsString();
}

std::string scalars_event(double wall_time, std::int64_t step, const std::vector<Scalar>& scalars) {
  Event event;
  event.set_wall_time(wall_time);
  event.set_step(step);
  auto* summary = event.mutable_summary();
  for (const auto& scalar : scalars) {
    auto* value = summary->add_value();
    value->set_tag(scalar.tag);
    value->set_simple_value(static_cast<float>(scalar.value));
  }
  return event.SerializeAsString();
}

std::vector<fs::path> event_files(const fs::path& folder) {
  std::vector<fs::path> files;
  std::error_code error;
  for (fs::directory_iterator it(folder, error), end; !error && it != end; it.increment(error))
    if (it->is_regular_file() && it->path().filename().string().rfind(kFilePrefix, 0) == 0) files.push_back(it->path());
  std::sort(files.begin(), files.end());
  return files;
}

void trim_event_files(const fs::path& folder, std::int64_t step) {
  for (const auto& path : event_files(folder)) {
    const auto records = read_tfrecords(path);
    if (!records.complete)
      std::fprintf(stderr, "warning: %s: a record with a bad checksum; the events from it on are dropped\n",
                   path.string().c_str());
    std::string kept;
    for (const auto& data : records.data) {
      Event event;
      if (!event.ParseFromString(data)) break;  // damaged: keep what came before it
      if (event.has_summary() && event.step() > step) continue;
      kept += tfrecord(data);
    }
    // Unchanged files (all steps <= step, no torn tail) are left as they are.
    if (kept.size() != fs::file_size(path)) write_file_atomic(path, kept);
  }
}

void remove_event_files(const fs::path& folder) {
  for (const auto& path : event_files(folder)) {
    std::error_code error;
    if (!fs::remove(path, error) && error) fail("{}: cannot remove ({})", path.string(), error.message());
  }
}

EventWriter::EventWriter(const fs::path& folder) {
  ensure_directory(folder);
  const auto base = fmt::format("{}{}.{}", kFilePrefix, static_cast<long long>(std::time(nullptr)), hostname());
  for (int n = 0; file_ == nullptr; ++n) {
    path_ = folder / (n == 0 ? base : fmt::format("{}.{}", base, n));
    // "x": never open a file that exists (an earlier file of this run stays as it is).
    file_ = std::fopen(path_.c_str(), "wbx");
    if (file_ == nullptr && (errno != EEXIST || n >= 1000)) fail("{}: cannot write ({})", path_.string(), std::strerror(errno));
  }
  try {
    write_record(file_version_event(unix_seconds_now()));
  } catch (...) {
    std::fclose(file_);  // the destructor does not run for a constructor that throws
    throw;
  }
}

EventWriter::~EventWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void EventWriter::write_scalars(std::int64_t step, const std::vector<Scalar>& scalars) {
  if (!scalars.empty()) write_record(scalars_event(unix_seconds_now(), step, scalars));
}

void EventWriter::write_record(const std::string& data) {
  const auto record = tfrecord(data);
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size() || std::fflush(file_) != 0)
    fail("{}: write failed ({})", path_.string(), std::strerror(errno));
}

}  // namespace illume::tensorboard

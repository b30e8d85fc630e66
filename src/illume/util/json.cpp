#include "illume/util/json.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "illume/util/file.h"

namespace illume {

std::string dump_line(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string json_excerpt(const Json& value) {
  // A deep value is not dumped whole (dump recurses; a hostile file can nest 100k deep).
  if (value.is_array()) return value.empty() ? "[]" : fmt::format("a list of {}", value.size());
  if (value.is_object()) return value.empty() ? "{}" : fmt::format("an object of {} keys", value.size());
  auto text = dump_line(value);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

Json parse_json(const std::string& text, const std::string& source) {
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();
    // nlohmann's message starts "[json.exception.parse_error.101] "; keep the readable part.
    auto pos = what.find("] ");
    fail("{}: malformed JSON ({})", source, pos == std::string::npos ? what : what.substr(pos + 2));
  }
}

Json read_json_file(const std::filesystem::path& path) { return parse_json(read_file(path), path.string()); }

JsonlWriter::JsonlWriter(const std::filesystem::path& path, Mode mode) : path_(path) {
  ensure_directory(path.parent_path());
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail("{}: cannot write (a folder of that name exists)", path.string());
  if (mode == Mode::Replace) {
    temp_ = path;
    temp_ += fmt::format(".tmp.{}", ::getpid());
  }
  const auto& target = mode == Mode::Replace ? temp_ : path_;
  file_ = std::fopen(target.c_str(), mode == Mode::Append ? "ab" : "wb");
  if (file_ == nullptr) fail("{}: cannot write ({})", path.string(), std::strerror(errno));
}

JsonlWriter::~JsonlWriter() {
  if (file_ == nullptr) return;
  std::fclose(file_);
  if (!temp_.empty()) ::unlink(temp_.c_str());  // not committed: PATH keeps its old content
}

void JsonlWriter::write(const Json& value) {
  if (file_ == nullptr) fail("{}: write after commit", path_.string());
  std::string line = dump_line(value);
  line.push_back('\n');
  const bool flush = temp_.empty();  // a live log is flushed line by line; a replacement at commit
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || (flush && std::fflush(file_) != 0))
    fail("{}: write failed ({})", path_.string(), std::strerror(errno));
}

void JsonlWriter::commit() {
  if (file_ == nullptr) return;
  const bool ok = std::fflush(file_) == 0 && (temp_.empty() || ::fsync(::fileno(file_)) == 0);
  const int error = errno;
  std::fclose(file_);
  file_ = nullptr;
  if (!ok) {
    if (!temp_.empty()) ::unlink(temp_.c_str());
    fail("{}: write failed ({})", path_.string(), std::strerror(error));
  }
  if (!temp_.empty() && ::rename(temp_.c_str(), path_.c_str()) != 0) {
    const int e = errno;
    ::unlink(temp_.c_str());
    fail("{}: cannot replace ({})", path_.string(), std::strerror(e));
  }
}

}  // namespace illume

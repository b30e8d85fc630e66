#include "illume/util/json.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "illume/util/file.h"

namespace illume {

std::string dump_line(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

int json_nesting_depth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;  // the escaped character cannot end the string
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      ++depth;
      if (depth > deepest) deepest = depth;
      if (deepest > limit) return limit + 1;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::string json_error_text(const nlohmann::json::exception& error) {
  std::string what = error.what();
  auto pos = what.find("] ");  // drop nlohmann's "[json.exception.parse_error.101] " prefix
  if (pos != std::string::npos) what = what.substr(pos + 2);
  // "...; last read: 'TOKEN'" quotes the whole offending token, which may be a megabyte-long string.
  constexpr std::size_t kMaxToken = 60;
  if (auto last = what.find("last read: '"); last != std::string::npos && what.size() - last > kMaxToken + 13) {
    what.resize(last + 12 + kMaxToken);
    while (!what.empty() && (static_cast<unsigned char>(what.back()) & 0xC0) == 0x80) what.pop_back();
    what += "...'";
  }
  for (char& c : what)
    if (c == '\n' || c == '\r') c = ' ';
  return what;
}

namespace {

// Appends value to out until out holds more than `budget` characters; recursion is bounded by the
// budget, since each level appends at least one character first.
void append_excerpt(const Json& value, std::string& out, std::size_t budget) {
  if (out.size() > budget) return;
  if (value.is_object()) {
    out += '{';
    bool first = true;
    for (auto it = value.begin(); it != value.end() && out.size() <= budget; ++it) {
      if (!first) out += ',';
      first = false;
      out += dump_line(Json(it.key()));
      out += ':';
      append_excerpt(it.value(), out, budget);
    }
    out += '}';
  } else if (value.is_array()) {
    out += '[';
    bool first = true;
    for (auto it = value.begin(); it != value.end() && out.size() <= budget; ++it) {
      if (!first) out += ',';
      first = false;
      append_excerpt(*it, out, budget);
    }
    out += ']';
  } else if (value.is_string() && value.get_ref<const std::string&>().size() > budget) {
    out += dump_line(Json(value.get_ref<const std::string&>().substr(0, budget)));
  } else {
    out += dump_line(value);
  }
}

}  // namespace

std::string json_excerpt(const Json& value, std::size_t max_chars) {
  if (max_chars < 8) max_chars = 8;
  std::string out;
  append_excerpt(value, out, max_chars);
  if (out.size() > max_chars) {
    out.resize(max_chars - 3);
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0xC0) out.pop_back();  // a lead byte
    out += "...";
  }
  return out;
}

Json parse_json(std::string_view text, const std::string& source, std::string_view problem) {
  // nlohmann's parser stops at a NUL as if the text ended there; JSON never holds one raw.
  if (text.find('\0') != std::string_view::npos) fail("{}: {} (it contains a NUL byte)", source, problem);
  if (json_nesting_depth(text) > kMaxJsonDepth)
    fail("{}: {} (arrays and objects nested more than {} deep)", source, problem, kMaxJsonDepth);
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    // Syntax errors, and out_of_range for numbers no double holds (1e400).
    fail("{}: {} ({})", source, problem, json_error_text(e));
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

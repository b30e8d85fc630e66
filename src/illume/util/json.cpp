#include "illume/util/json.h"

#include <cerrno>
#include <cstring>

#include "illume/util/file.h"

namespace illume {

std::string dump_line(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

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

JsonlWriter::JsonlWriter(const std::filesystem::path& path, bool append) : path_(path) {
  ensure_directory(path.parent_path());
  file_ = std::fopen(path.c_str(), append ? "ab" : "wb");
  if (file_ == nullptr) fail("{}: cannot write ({})", path.string(), std::strerror(errno));
}

JsonlWriter::~JsonlWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void JsonlWriter::write(const Json& value) {
  std::string line = dump_line(value);
  line.push_back('\n');
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    fail("{}: write failed ({})", path_.string(), std::strerror(errno));
}

}  // namespace illume

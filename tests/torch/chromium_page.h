// Headless Chromium for page tests (the method of test_report_html.cpp, shared): load a file, collect
// console lines (any CONSOLE line on stderr is a page problem) and read attributes of the dumped DOM.
#pragma once
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace illume::test {

inline std::filesystem::path chromium_path() {
  if (const char* env = std::getenv("ILLUME_CHROMIUM")) return env;
  return "/usr/bin/chromium";
}

struct ChromiumPage {
  int status = -1;                   // exit status of chromium (124: timed out)
  std::string dom;                   // --dump-dom output
  std::vector<std::string> console;  // console messages
  std::string stderr_text;
};

inline std::string chromium_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Loads file://html#hash in a window of `window_size` ("W,H" CSS pixels); `mode` is "--dump-dom" or
// "--screenshot=PATH".
inline ChromiumPage load_in_chromium(const std::filesystem::path& html, const std::string& hash,
                                     const std::filesystem::path& scratch, const std::string& mode = "--dump-dom",
                                     const std::string& window_size = "1400,2000") {
  namespace fs = std::filesystem;
  fs::path profile = scratch / "chromium-profile", out = scratch / "chromium.out", err = scratch / "chromium.err";
  fs::remove_all(profile);
  std::string url = "file://" + fs::absolute(html).string() + hash;
  std::string command = "timeout 120 " + chromium_quote(chromium_path().string()) +
                        " --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars"
                        " --no-first-run --user-data-dir=" + chromium_quote(profile.string()) +
                        " --enable-logging=stderr --v=0 --virtual-time-budget=10000 --window-size=" + window_size + " " + mode +
                        " " + chromium_quote(url) + " > " + chromium_quote(out.string()) + " 2> " +
                        chromium_quote(err.string());
  ChromiumPage page;
  int raw = std::system(command.c_str());
  page.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  page.dom = fs::exists(out) ? slurp(out) : "";
  page.stderr_text = fs::exists(err) ? slurp(err) : "";
  std::istringstream lines(page.stderr_text);
  for (std::string line; std::getline(lines, line);)
    if (line.find("CONSOLE") != std::string::npos) page.console.push_back(line);
  fs::remove_all(profile);
  return page;
}

// The value of attribute `name` in the first tag of the body starting with `tag_start`; "" if absent.
inline std::string dom_attribute(const std::string& dom, const std::string& tag_start, const std::string& name) {
  auto body = dom.find("</head>");
  auto at = dom.find(tag_start, body == std::string::npos ? 0 : body);
  if (at == std::string::npos) return "";
  auto end = dom.find('>', at);
  std::string tag = dom.substr(at, end - at);
  auto a = tag.find(" " + name + "=\"");
  if (a == std::string::npos) return "";
  a += name.size() + 3;
  return tag.substr(a, tag.find('"', a) - a);
}

// Non-overlapping occurrences of needle in text.
inline std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

// Everything wrong with a loaded page; empty when it is healthy and drew `plots` canvases (the pages'
// <body data-js-errors> and <body data-plots-drawn> conventions).
inline std::vector<std::string> page_problems(const ChromiumPage& run, std::size_t plots) {
  std::vector<std::string> problems;
  if (run.status != 0) problems.push_back("chromium exited with status " + std::to_string(run.status));
  for (const auto& line : run.console) problems.push_back("console: " + line);
  std::string errors = dom_attribute(run.dom, "<body", "data-js-errors");
  if (errors != "0") problems.push_back("data-js-errors=\"" + errors + "\"");
  std::string drawn = dom_attribute(run.dom, "<body", "data-plots-drawn");
  if (drawn != std::to_string(plots))
    problems.push_back("data-plots-drawn=\"" + drawn + "\", expected " + std::to_string(plots));
  return problems;
}

inline std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += "\n  " + l;
  return out;
}

}  // namespace illume::test

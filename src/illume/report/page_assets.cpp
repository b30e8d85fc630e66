#include "illume/report/page_assets.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "illume/util/error.h"

namespace illume::report_detail {
namespace {

using Json = nlohmann::json;
constexpr std::string_view kIncludeOpen = "@@include ";
constexpr std::string_view kIncludeClose = "@@";

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

bool contains_ignoring_case(std::string_view text, std::string_view lowercase_needle) {
  std::string lowered(text);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lowered.find(lowercase_needle) != std::string::npos;
}

// The text of an included file, checked: inlined inside <script> or <style>, it must not end that
// element early, and it is inlined as it stands (one level: no includes of its own).
std::string_view checked_include(std::string_view page, std::string_view name,
                                 std::span<const EmbeddedAsset> assets) {
  std::string_view text = asset(name, assets);
  if (text.find(kIncludeOpen) != std::string_view::npos)
    fail("assets/{}: the included assets/{} includes another file (one level only)", page, name);
  if (ends_with(name, ".js") &&
      (contains_ignoring_case(text, "</script") || text.find("<!--") != std::string_view::npos))
    fail("assets/{}: the included assets/{} holds \"</script\" or \"<!--\", which would end its <script> early",
         page, name);
  if (ends_with(name, ".css") && contains_ignoring_case(text, "</style"))
    fail("assets/{}: the included assets/{} holds \"</style\", which would end its <style> early", page, name);
  return text;
}

}  // namespace

std::string_view asset(std::string_view name, std::span<const EmbeddedAsset> assets) {
  for (const EmbeddedAsset& embedded : assets)
    if (embedded.name == name) return embedded.text;
  fail("assets/{}: no such report asset (the files of src/illume/report/assets/ are embedded at build time)", name);
}

std::string page_template(std::string_view page, std::span<const EmbeddedAsset> assets) {
  std::string_view text = asset(page, assets);
  std::string out;
  out.reserve(text.size() * 3);
  std::size_t done = 0;
  for (auto at = text.find(kIncludeOpen); at != std::string_view::npos; at = text.find(kIncludeOpen, done)) {
    auto name_begin = at + kIncludeOpen.size();
    auto close = text.find(kIncludeClose, name_begin);
    if (close == std::string_view::npos) fail("assets/{}: an \"@@include\" without its closing \"@@\"", page);
    out.append(text.substr(done, at - done));
    out.append(checked_include(page, text.substr(name_begin, close - name_begin), assets));
    done = close + kIncludeClose.size();
  }
  out.append(text.substr(done));
  return out;
}

std::string json_for_script(const Json& value) {
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size() + text.size() / 32 + 16);
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xE2' && i + 2 < text.size() && text[i + 1] == '\x80' &&
               (text[i + 2] == '\xA8' || text[i + 2] == '\xA9')) {
      out += text[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

double round_significant(double v, int digits) {
  if (!std::isfinite(v) || v == 0.0) return v;
  char buffer[40];
  auto written = std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::general, digits);
  double out = v;
  std::from_chars(buffer, written.ptr, out);
  return out;
}

std::string fill_template(std::string_view page, const Json& data, std::string_view template_name) {
  std::string json = json_for_script(data);
  auto at = page.find(kDataPlaceholder);
  if (at == std::string_view::npos || page.find(kDataPlaceholder, at + 1) != std::string_view::npos)
    fail("{}: the data placeholder must occur exactly once", template_name);
  std::string html;
  html.reserve(page.size() + json.size());
  html.append(page.substr(0, at));
  html.append(json);
  html.append(page.substr(at + kDataPlaceholder.size()));
  return html;
}

std::string render_page(std::string_view page, const Json& data) {
  return fill_template(page_template(page), data, "assets/" + std::string(page));
}

}  // namespace illume::report_detail

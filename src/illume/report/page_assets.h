// The report pages as asset files, and the one way both pages become a self-contained HTML file.
//
// src/illume/report/assets/ holds the pages' source: common.css and common.js (shared by both pages),
// and per page an .html (markup and the page's own CSS) and a .js (its script). The build compiles
// every file there into the library (cmake/embed_assets.cmake writes build/generated/report_assets.cpp;
// editing an asset re-generates it), so the program needs no files at run time.
//
// A page .html names the files it inlines with lines "@@include NAME@@" (common.js in the <head>'s
// <script>, common.css at the top of its <style>, its own .js in the last <script>), and marks where
// the data JSON goes with kDataPlaceholder inside <script id="illume-data" type="application/json">.
// The result references nothing outside itself: no network, no other file.
#pragma once
#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <string_view>

namespace illume::report_detail {

struct EmbeddedAsset {
  std::string_view name;  // file name inside assets/, e.g. "common.css"
  std::string_view text;  // its bytes, exactly
};

// Every file of assets/ (*.html, *.css, *.js), sorted by name. Defined in the generated source.
std::span<const EmbeddedAsset> embedded_assets();

// The text of assets/NAME; fails naming NAME when no such file was embedded. (`assets` other than the
// embedded ones: for tests.)
std::string_view asset(std::string_view name, std::span<const EmbeddedAsset> assets = embedded_assets());

// assets/PAGE with each "@@include NAME@@" replaced by assets/NAME: the page template that
// fill_template completes. Fails with one line naming the file when PAGE or an included file is
// missing, and naming PAGE and the file when an included file includes another or would end its
// element early ("</script" or "<!--" in a .js file, "</style" in a .css file, in any letter case).
std::string page_template(std::string_view page, std::span<const EmbeddedAsset> assets = embedded_assets());

// Where the embedded JSON goes (exactly once per page).
inline constexpr std::string_view kDataPlaceholder = "@@ILLUME_DATA_JSON@@";

// JSON text safe inside <script type="application/json">: '<', '>', '&', U+2028 and U+2029 are
// written as \uXXXX escapes (only ever inside JSON strings, so the JSON value is unchanged).
std::string json_for_script(const nlohmann::json& value);

// v rounded to `digits` significant digits (so the shortest round-trip form nlohmann writes is short);
// NaN, inf and 0 unchanged.
double round_significant(double v, int digits);

// The page: `page` with its one kDataPlaceholder replaced by json_for_script(data); fails naming
// `template_name` unless the placeholder occurs exactly once.
std::string fill_template(std::string_view page, const nlohmann::json& data, std::string_view template_name);

// The whole self-contained page assets/PAGE for `data`: fill_template(page_template(PAGE), data).
std::string render_page(std::string_view page, const nlohmann::json& data);

}  // namespace illume::report_detail

// The report pages' asset files (report/page_assets.h): the embedded bytes are the files of
// src/illume/report/assets/, each page inlines the shared common.css and common.js exactly once and
// leaves no placeholder behind, and a file that would break its page is refused with one line. Lives
// in tests/torch because the report code is part of the `illume` library; it uses no torch.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "chromium_page.h"
#include "common.h"
#include "illume/report/analysis_report.h"
#include "illume/report/dashboard.h"
#include "illume/report/page_assets.h"
#include "illume/util/build_paths.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;
using namespace illume::report_detail;
using illume::test::count;
using illume::test::error_of;
namespace fs = std::filesystem;

namespace {

// The smallest data each page renders.
std::string analysis_page() { return render_analysis_report({{"responses", {{{"tokens", {"a", "b"}}}}}}); }
std::string dashboard_page() {
  return render_dashboard({{"runs", {{{"name", "run"}, {"metrics", {{"step", {1, 2}}, {"reward/mean", {0.1, 0.2}}}}}}}});
}

}  // namespace

TEST(PageAssets, EmbeddedBytesAreTheSourceFiles) {
  const fs::path folder = fs::path(build::source_dir()) / "src" / "illume" / "report" / "assets";
  std::vector<std::string> on_disk;
  for (const auto& entry : fs::directory_iterator(folder)) {
    std::string extension = entry.path().extension().string();
    if (extension == ".html" || extension == ".css" || extension == ".js")
      on_disk.push_back(entry.path().filename().string());
  }
  std::sort(on_disk.begin(), on_disk.end());
  std::vector<std::string> embedded;
  for (const EmbeddedAsset& file : embedded_assets()) embedded.emplace_back(file.name);
  EXPECT_EQ(embedded, on_disk) << "the build embeds every asset file, sorted by name";
  for (const std::string& name : on_disk)
    EXPECT_EQ(asset(name), read_file(folder / name)) << name << ": embedded bytes differ from the file";
  EXPECT_GE(embedded.size(), 6u);
}

TEST(PageAssets, EachPageInlinesTheCommonFilesOnce) {
  const std::string common_css(asset("common.css")), common_js(asset("common.js"));
  const std::string analysis_js(asset("analysis_report.js")), dashboard_js(asset("dashboard.js"));
  ASSERT_GT(common_css.size(), 1000u);
  ASSERT_GT(common_js.size(), 1000u);
  struct Page {
    const char* name;
    std::string html, own_js, other_js;
  };
  for (const Page& page : {Page{"analysis report", analysis_page(), analysis_js, dashboard_js},
                           Page{"dashboard", dashboard_page(), dashboard_js, analysis_js}}) {
    SCOPED_TRACE(page.name);
    EXPECT_EQ(count(page.html, common_css), 1u);
    EXPECT_EQ(count(page.html, common_js), 1u);
    EXPECT_EQ(count(page.html, page.own_js), 1u);
    EXPECT_EQ(count(page.html, page.other_js), 0u);
    // common.js runs first (the error banner must be listening before the page's script runs).
    EXPECT_LT(page.html.find(common_js), page.html.find(page.own_js));
    EXPECT_EQ(page.html.find("@@"), std::string::npos) << "an unreplaced placeholder";
    // One file: three scripts (common, data, page), one style, nothing loaded from elsewhere.
    EXPECT_EQ(count(page.html, "<script"), 3u);
    EXPECT_EQ(count(page.html, "<style"), 1u);
    EXPECT_EQ(count(page.html, " src="), 0u);
    EXPECT_EQ(count(page.html, "<link"), 0u);
    EXPECT_EQ(page.html.rfind("<!doctype html>", 0), 0u);
  }
}

TEST(PageAssets, RefusesFilesThatWouldBreakThePage) {
  const std::vector<EmbeddedAsset> files = {
      {"page.html", "<style>\n@@include a.css@@\n</style><script>\n@@include a.js@@\n</script>"},
      {"a.css", "b { color: red; }"},
      {"a.js", "let x = 1;"},
      {"script_end.js", "let s = '</SCRIPT>';"},
      {"comment.js", "let s = '<!--';"},
      {"style_end.css", "b { } </Style>"},
      {"nested.js", "@@include a.js@@"},
      {"unclosed.html", "<script>@@include a.js</script>"},
  };
  EXPECT_EQ(page_template("page.html", files), "<style>\nb { color: red; }\n</style><script>\nlet x = 1;\n</script>");
  // The message for a page "bad.html" that includes `include`.
  auto page_with = [&](const std::string& include) {
    std::string text = "<script>@@include " + include + "@@</script>";
    std::vector<EmbeddedAsset> with = files;
    with.push_back({"bad.html", text});
    return error_of([&] { page_template("bad.html", with); });
  };
  EXPECT_EQ(page_with("script_end.js"),
            "assets/bad.html: the included assets/script_end.js holds \"</script\" or \"<!--\", which would end its "
            "<script> early");
  EXPECT_EQ(page_with("comment.js"),
            "assets/bad.html: the included assets/comment.js holds \"</script\" or \"<!--\", which would end its "
            "<script> early");
  EXPECT_EQ(page_with("style_end.css"),
            "assets/bad.html: the included assets/style_end.css holds \"</style\", which would end its <style> early");
  EXPECT_EQ(page_with("nested.js"), "assets/bad.html: the included assets/nested.js includes another file (one level only)");
  EXPECT_EQ(page_with("missing.js"),
            "assets/missing.js: no such report asset (the files of src/illume/report/assets/ are embedded at build time)");
  EXPECT_EQ(error_of([&] { page_template("unclosed.html", files); }),
            "assets/unclosed.html: an \"@@include\" without its closing \"@@\"");
  EXPECT_EQ(error_of([] { render_page("a.css", Json::object()); }),
            "assets/a.css: no such report asset (the files of src/illume/report/assets/ are embedded at build time)");
}

// The HTML analysis report: schema checks, safe JSON embedding, and the page itself rendered by
// headless Chromium (plots drawn with ink, no script errors, hostile token text escaped, a 4,000-token
// response within the virtual time budget). Lives in tests/torch because the report code is part of
// the `illume` library; it uses no torch.
//
// How Chromium reports page problems (determined on Debian 12's chromium 156): with
// --enable-logging=stderr --v=0 every console message, whatever its level, is a stderr line like
//   [pid:tid:date:INFO:CONSOLE:4] "Uncaught ReferenceError: f is not defined", source: file:///... (4)
// The many ":ERROR:" lines on stderr are D-Bus noise from a machine without a session bus, so they
// cannot be used. The page logs nothing itself, so any CONSOLE line is a failure; the page also counts
// script errors in <body data-js-errors>.
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "chromium_page.h"
#include "common.h"
#include "illume/report/analysis_report.h"
#include "illume/report/page_assets.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;
using namespace illume::test;
namespace fs = std::filesystem;

namespace {

// ---------- synthetic data ----------
struct Lcg {
  std::uint64_t x;
  double next() {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(x >> 33) / static_cast<double>(1ULL << 31);
  }
  int range(int lo, int hi) { return lo + static_cast<int>(next() * (hi - lo + 1)); }
};

const char* const kHostile = "</script><b>&amp;";
const std::vector<std::string> kVocab = {" the", " number", " is", " 12", ",", " so", " we", " add", " 7", ".",
                                         "\n", " Let", " x", " =", " 3", "日本語", " 🙂", kHostile, " total",
                                         " answer", "\xE2\x80\xA8", " boxed", "<!--", "'\"", "\\u2028"};

// A response of n tokens in chunks of 6..30 tokens: each chunk opens with a preplan token (high WAAD),
// every fifth chunk's opener is an anchor (high FAI). With maps: a 256x256 window whose local map is a
// sawtooth (rows attend back to the start of their chunk, chunk openers to the previous chunk) and
// whose global map has vertical stripes (anchor columns every row attends to).
Json synthetic_response(Lcg& rng, int n, bool with_maps) {
  Json tokens = Json::array(), waad = Json::array(), fai = Json::array(), entropy = Json::array();
  Json preplan = Json::array(), anchor = Json::array();
  for (int i = 0, chunk = 0; i < n; ++chunk) {
    int length = rng.range(6, 30);
    for (int j = 0; j < length && i + j < n; ++j) {
      int t = i + j;
      tokens.push_back(kVocab[(j == 0 ? chunk * 3 : t * 7 + chunk) % kVocab.size()]);
      if (j == 0) {
        preplan.push_back(t);
        waad.push_back(7 + 3 * rng.next());
        entropy.push_back(0.3 + 0.3 * rng.next());
      } else {
        waad.push_back(1 + 2 * rng.next());
        entropy.push_back(0.25 * rng.next());
      }
      if (j == 0 && chunk % 5 == 0) {
        anchor.push_back(t);
        fai.push_back(0.02 + 0.03 * rng.next());
      } else {
        fai.push_back(0.002 * rng.next() * (1.0 - double(t) / n) + 0.0005);
      }
    }
    i += length;
  }
  Json delta = Json::array();
  for (int t = 0; t < n; ++t)
    delta.push_back(t + 1 < n ? std::abs(waad[t].get<double>() - waad[t + 1].get<double>()) : 0.0);
  const std::vector<int> layers = {12, 15, 18, 21, 24};
  Json spans = Json::array();
  std::vector<std::tuple<double, int, int>> ranked;
  for (int l = 0; l < 5; ++l) {
    Json row = Json::array();
    for (int h = 0; h < 32; ++h) {
      double d = std::exp(std::log(2.0) + rng.next() * std::log(200.0));
      row.push_back(d);
      ranked.emplace_back(d, layers[l], h);
    }
    spans.push_back(row);
  }
  std::sort(ranked.begin(), ranked.end());
  Json local = Json::array(), global = Json::array();
  std::size_t q = ranked.size() * 3 / 10;
  for (std::size_t k = 0; k < q; ++k) local.push_back({std::get<1>(ranked[k]), std::get<2>(ranked[k])});
  for (std::size_t k = ranked.size() - q; k < ranked.size(); ++k)
    global.push_back({std::get<1>(ranked[k]), std::get<2>(ranked[k])});
  Json r = {{"prompt", "Natalia sold clips to 48 of her friends in April. <b>How</b> many? </script>"},
            {"tokens", tokens}, {"waad", waad}, {"fai", fai}, {"delta", delta}, {"entropy", entropy},
            {"preplan", preplan}, {"anchor", anchor}, {"head_span", spans}, {"layers", layers},
            {"local_heads", local}, {"global_heads", global}};
  if (with_maps) {
    const int m = 256;
    std::vector<int> starts;
    for (int c = 0; c < m; c += rng.range(3, 14)) starts.push_back(c);
    std::vector<int> anchors;
    for (int a = 5; a < m; ++a)
      if (rng.next() < 0.05) anchors.push_back(a);
    Json loc = Json::array(), glo = Json::array();
    std::size_t chunk = 0;
    for (int t = 0; t < m; ++t) {
      while (chunk + 1 < starts.size() && starts[chunk + 1] <= t) ++chunk;
      int c0 = starts[chunk];
      std::vector<double> a(m, 0.0), g(m, 0.0);
      for (int s = 0; s <= t; ++s) {
        a[s] = 1e-5;
        g[s] = 1e-4 * (1 + rng.next());
      }
      a[t] += 0.35;
      for (int s = c0; s < t; ++s) a[s] += 0.5 * std::pow(0.8, t - s) + 0.04;
      if (t == c0 && chunk > 0)
        for (int s = starts[chunk - 1]; s < t; ++s) a[s] += 0.4 / (t - starts[chunk - 1]);
      g[t] += 0.15;
      for (int anchor_cell : anchors)
        if (anchor_cell <= t) g[anchor_cell] += 0.6 / (1.0 + anchors.size()) * (0.5 + rng.next());
      double sa = 0, sg = 0;
      for (int s = 0; s <= t; ++s) sa += a[s], sg += g[s];
      Json ra = Json::array(), rg = Json::array();
      for (int s = 0; s < m; ++s) {
        ra.push_back(a[s] / sa);
        rg.push_back(g[s] / sg);
      }
      loc.push_back(std::move(ra));
      glo.push_back(std::move(rg));
    }
    r["maps"] = {{"window_begin", 1000}, {"window_size", 1024}, {"size", m}, {"local", loc}, {"global", glo}};
    // Three per-head maps at a quarter of the resolution (the head selector's choices): pooled local rows.
    const int q = m / 4;
    Json ids = Json::array(), head_maps = Json::array();
    for (int k = 0; k < 3; ++k) {
      Json map = Json::array();
      for (int t = 0; t < q; ++t) {
        Json row = Json::array();
        for (int s = 0; s < q; ++s) row.push_back(s <= t ? (s == t - k || s == t ? 0.4 : 0.2 / (t + 1)) : 0.0);
        map.push_back(std::move(row));
      }
      ids.push_back({std::get<1>(ranked[k]), std::get<2>(ranked[k])});
      head_maps.push_back(std::move(map));
    }
    r["maps"]["heads"] = {{"size", q}, {"ids", ids}, {"maps", head_maps}};
  }
  return r;
}

Json synthetic_data() {
  Lcg rng{42};
  Json data = {{"title", "Synthetic check: a 4,000-token response <i>&</i>"},
               {"model", "models/synthetic"},
               {"settings", {{"layers", {12, 15, 18, 21, 24}}, {"window", 10}, {"fai_horizon_lo", 1},
                             {"fai_horizon_hi", "end"}, {"head_quantile", 0.3}}},
               {"summary",
                {{"entropy_at_waad_peaks", {{"observed", 0.3608}, {"random", 0.2386}, {"lift", 0.512}, {"ratio", 1.512},
                                            {"lift_ci", {0.31, 0.74}}, {"bootstrap", 1000}, {"verdict", "above chance"}}},
                 // A positive lift whose interval includes 0: "not detected", not green.
                 {"receiver_fai_peak_coincidence", {{"observed", 0.6084}, {"random", 0.2241}, {"lift", 1.715}, {"ratio", 2.715},
                                                    {"lift_ci", {-0.1, 3.2}}, {"bootstrap", 1000}}},
                 {"fai_peak_after_waad_peak", {{"observed", 0.2}, {"random", 0.25}, {"lift", -0.2}, {"ratio", 0.8},
                                               {"lift_ci", {-0.5, 0.1}}, {"bootstrap", 1000}, {"verdict", "not detected"}}},
                 {"perturbation", {{"jaccard_high_fai", 0.534}, {"jaccard_low_fai", 0.631}, {"top_below_bottom", 0.8714}}},
                 {"responses", 2}}}};
  data["responses"] = Json::array({synthetic_response(rng, 4000, true), synthetic_response(rng, 60, false)});
  return data;
}

// ---------- headless Chromium ----------
#define ILLUME_REQUIRE_CHROMIUM()                                                                       \
  do {                                                                                                 \
    if (!fs::exists(chromium_path())) FAIL() << "chromium is not installed (make deps installs it): " << chromium_path(); \
  } while (0)

// An attribute value of the dumped DOM as text.
std::string unescape(std::string s) {
  for (auto [from, to] : {std::pair<std::string, std::string>{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"},
                          {"&nbsp;", "\xC2\xA0"}, {"&amp;", "&"}})
    for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

// The report's visibleText: spaces as U+00B7, tabs as U+21E5, newlines as U+23CE + newline.
std::string visible_text(const std::string& token) {
  std::string out;
  for (char c : token)
    out += c == ' ' ? std::string("\xC2\xB7") : c == '\t' ? std::string("\xE2\x87\xA5") : c == '\n' ? std::string("\xE2\x8F\x8E\n") : std::string(1, c);
  return out;
}

long long ink(const std::string& dom, const std::string& canvas_id) {
  std::string v = dom_attribute(dom, "<canvas id=\"" + canvas_id + "\"", "data-ink");
  return v.empty() ? -1 : std::stoll(v);
}




}  // namespace

TEST(ReportHtml, LargeResponseRendersInChromium) {
  ILLUME_REQUIRE_CHROMIUM();
  auto dir = test::scratch_dir();
  auto html = dir / "report.html";
  write_analysis_report(html, synthetic_data());
  // #selftest also drives the tooltips, the curve click and the shading / colour-scale toggles.
  ChromiumPage run = load_in_chromium(html, "#r=0&selftest", dir, "--dump-dom");
  auto problems = page_problems(run, 5);
  ASSERT_TRUE(problems.empty()) << join(problems);
  EXPECT_EQ(dom_attribute(run.dom, "<body", "data-selftest"), "ok");
  std::string render_ms = dom_attribute(run.dom, "<body", "data-render-ms");
  std::cout << "[ report   ] 4,000-token response drawn in " << render_ms << " ms (page clock)\n";
  ASSERT_FALSE(render_ms.empty());
  EXPECT_LT(std::stoll(render_ms), 10000) << "the page took longer than the virtual time budget";

  // Every plot has ink from its data, not only axes: curves, both maps (about half of each map is the
  // causal lower triangle), head spans.
  EXPECT_GT(ink(run.dom, "cv-waad"), 5000);
  EXPECT_GT(ink(run.dom, "cv-fai"), 2000);
  EXPECT_GT(ink(run.dom, "cv-local"), 60000);
  EXPECT_GT(ink(run.dom, "cv-global"), 60000);
  EXPECT_GT(ink(run.dom, "cv-heads"), 1000);

  // All 4,000 + 0 tokens of the shown response are spans; hostile text is text, not markup.
  EXPECT_EQ(count(run.dom, "<span class=\"t "), 4000u);
  EXPECT_NE(run.dom.find("&lt;/script&gt;&lt;b&gt;&amp;amp;"), std::string::npos);
  EXPECT_EQ(run.dom.find("<b>&amp;"), std::string::npos);
  EXPECT_EQ(run.dom.find("<b>How</b>"), std::string::npos);
  EXPECT_EQ(run.dom.find("<i>&amp;</i>"), std::string::npos);
  EXPECT_NE(run.dom.find("&lt;!--"), std::string::npos);
  EXPECT_NE(run.dom.find("日本語"), std::string::npos);
  EXPECT_NE(run.dom.find("🙂"), std::string::npos);
  EXPECT_NE(run.dom.find(">\xE2\x80\xA8<"), std::string::npos) << "a U+2028 token must render as itself";

  // Coupling statistics: lift = (observed - random) / random as a signed percentage with its 95%
  // interval, green only when the interval lies above 0 ("not detected" when it includes 0, even for
  // a positive lift); the ratio observed / random beside it.
  EXPECT_NE(run.dom.find("<td class=\"lift-up\">+51.2%</td><td class=\"ci\">[+31%, +74%]</td><td>\xC3\x97" "1.512</td>"),
            std::string::npos);
  EXPECT_NE(run.dom.find("<td class=\"lift-nd\">+171.5%<span class=\"verdict\">not detected</span></td>"
                         "<td class=\"ci\">[-10%, +320%]</td><td>\xC3\x97" "2.715</td>"),
            std::string::npos);
  EXPECT_NE(run.dom.find("<td class=\"lift-nd\">-20%<span class=\"verdict\">not detected</span></td>"), std::string::npos);
  EXPECT_EQ(count(run.dom, "<td class=\"lift-up\">"), 1u);
  EXPECT_NE(run.dom.find("percentile bootstrap over the responses (1000 resamples)"), std::string::npos);

  // The paper's captions are descriptions of the paper, and a visible note says this model's
  // statistics do not show the rhythm (two rows not detected).
  EXPECT_EQ(dom_attribute(run.dom, "<body", "data-rhythm"), "not-shown");
  EXPECT_EQ(dom_attribute(run.dom, "<body", "data-rhythm-rows"), "2");
  EXPECT_NE(run.dom.find("<div class=\"wide rhythm-note\" id=\"rhythm-note\"><b>This model"), std::string::npos);
  EXPECT_NE(run.dom.find("<div class=\"rhythm-note\" id=\"map-note\"><b>The paper"), std::string::npos);
  EXPECT_NE(run.dom.find("in the paper: a sawtooth along the diagonal"), std::string::npos);
  EXPECT_EQ(run.dom.find("Local heads <span class=\"note\">&middot; sawtooth"), std::string::npos);

  // Preplan and anchor tokens inside the map window (positions 1000..2023) are marked on both maps.
  const auto data = synthetic_data();
  auto inside = [&](const char* key) {
    long long n = 0;
    for (const auto& i : data["responses"][0][key]) n += i.get<int>() >= 1000 && i.get<int>() < 2024;
    return n;
  };
  ASSERT_GT(inside("preplan"), 10);
  ASSERT_GT(inside("anchor"), 2);
  for (const char* map : {"<canvas id=\"cv-local\"", "<canvas id=\"cv-global\""}) {
    EXPECT_EQ(dom_attribute(run.dom, map, "data-preplan-marks"), std::to_string(inside("preplan"))) << map;
    EXPECT_EQ(dom_attribute(run.dom, map, "data-anchor-marks"), std::to_string(inside("anchor"))) << map;
  }

  // The curves' hover names the token under the cursor (with its neighbours).
  for (const char* curve : {"<canvas id=\"cv-waad\"", "<canvas id=\"cv-fai\""}) {
    std::string index = dom_attribute(run.dom, curve, "data-tip-index"), tip = unescape(dom_attribute(run.dom, curve, "data-tip"));
    ASSERT_FALSE(index.empty()) << curve;
    const auto i = std::stoul(index);
    EXPECT_NE(tip.find("#" + index + " " + visible_text(data["responses"][0]["tokens"][i].get<std::string>())),
              std::string::npos)
        << curve << " tip: " << tip;
  }

  // Head selector: the three group means (local, global, no receiver map here: two) plus three heads;
  // every choice draws its map.
  EXPECT_EQ(dom_attribute(run.dom, "<body", "data-head-options"), "5");
  std::string inks = dom_attribute(run.dom, "<body", "data-head-inks");
  EXPECT_EQ(count(inks, "="), 5u) << inks;
  EXPECT_EQ(inks.find("=0"), std::string::npos) << inks;
  EXPECT_EQ(inks.find("= "), std::string::npos) << inks;
  EXPECT_NE(inks.find("h:2="), std::string::npos) << inks;
}

TEST(ReportHtml, ResponseWithoutMapsDrawsThreePlots) {
  ILLUME_REQUIRE_CHROMIUM();
  auto dir = test::scratch_dir();
  auto html = dir / "report.html";
  write_analysis_report(html, synthetic_data());
  ChromiumPage run = load_in_chromium(html, "#r=1&selftest", dir, "--dump-dom");
  auto problems = page_problems(run, 3);
  ASSERT_TRUE(problems.empty()) << join(problems);
  EXPECT_EQ(dom_attribute(run.dom, "<body", "data-selftest"), "ok");
  EXPECT_GT(ink(run.dom, "cv-waad"), 500);
  EXPECT_GT(ink(run.dom, "cv-fai"), 200);
  EXPECT_GT(ink(run.dom, "cv-heads"), 1000);
  EXPECT_EQ(ink(run.dom, "cv-local"), -1) << "no maps: the map canvases must not claim ink";
  EXPECT_EQ(count(run.dom, "<span class=\"t "), 60u);
}

// A small report whose statistics all lie above chance: no note, unless the "local" heads span most of
// the response. Group means only: the head selectors offer those and say why.
TEST(ReportHtml, RhythmNoteFollowsTheStatisticsAndSpans) {
  ILLUME_REQUIRE_CHROMIUM();
  const int n = 40;
  Json tokens = Json::array(), waad = Json::array(), fai = Json::array(), local = Json::array();
  for (int t = 0; t < n; ++t) {
    tokens.push_back(t % 5 == 0 ? " step" : " x");
    waad.push_back(t % 5 == 0 ? 8.0 : 1.0);
    fai.push_back(t % 10 == 1 ? 0.05 : 0.01);
    Json row = Json::array();
    for (int s = 0; s < n; ++s) row.push_back(s <= t ? 1.0 / (t + 1) : 0.0);
    local.push_back(row);
  }
  auto detected = [](double lift) {
    return Json{{"observed", 1 + lift}, {"random", 1.0}, {"lift", lift}, {"lift_ci", {lift / 2, lift * 2}},
                {"bootstrap", 200}, {"verdict", "above chance"}};
  };
  Json response = {{"tokens", tokens}, {"waad", waad}, {"fai", fai}, {"preplan", {0, 5, 10, 15, 20, 25, 30, 35}},
                   {"anchor", {1, 11, 21, 31}}, {"layers", {0}}, {"head_span", {{2.0, 3.0, 30.0, 35.0}}},
                   {"local_heads", {{0, 0}}}, {"global_heads", {{0, 3}}},
                   {"maps", {{"window_begin", 0}, {"size", n}, {"local", local}, {"global", local}}}};
  Json data = {{"settings", {{"head_map_responses", 2}}},
               {"summary", {{"entropy_at_preplan", detected(0.5)}, {"fai_after_waad", detected(0.4)}}},
               {"responses", {response}}};
  auto dir = test::scratch_dir();
  write_analysis_report(dir / "ok.html", data);
  ChromiumPage run = load_in_chromium(dir / "ok.html", "#r=0&selftest", dir, "--dump-dom");
  auto problems = page_problems(run, 5);
  ASSERT_TRUE(problems.empty()) << join(problems);
  EXPECT_EQ(dom_attribute(run.dom, "<body", "data-rhythm"), "shown");
  EXPECT_EQ(dom_attribute(run.dom, "<body", "data-rhythm-rows"), "0");
  EXPECT_NE(run.dom.find("id=\"map-note\" hidden"), std::string::npos);
  EXPECT_EQ(count(run.dom, "<td class=\"lift-up\">"), 2u);
  EXPECT_EQ(dom_attribute(run.dom, "<body", "data-head-options"), "2");
  EXPECT_NE(run.dom.find("per-head maps are stored for the first 2 responses"), std::string::npos);
  EXPECT_EQ(dom_attribute(run.dom, "<canvas id=\"cv-local\"", "data-preplan-marks"), "8");
  EXPECT_EQ(dom_attribute(run.dom, "<canvas id=\"cv-global\"", "data-anchor-marks"), "4");

  // The one "local" head now looks back 25 tokens on average: over half of the 40-token response.
  data["responses"][0]["head_span"][0][0] = 25.0;
  write_analysis_report(dir / "wide.html", data);
  run = load_in_chromium(dir / "wide.html", "#r=0", dir, "--dump-dom");
  problems = page_problems(run, 5);
  ASSERT_TRUE(problems.empty()) << join(problems);
  EXPECT_EQ(dom_attribute(run.dom, "<body", "data-rhythm"), "not-shown");
  EXPECT_EQ(dom_attribute(run.dom, "<body", "data-local-span-wide"), "1");
  EXPECT_NE(run.dom.find("they span most of the response"), std::string::npos);
}

TEST(ReportHtml, BrokenPageIsDetected) {
  ILLUME_REQUIRE_CHROMIUM();
  auto dir = test::scratch_dir();
  std::string page = render_analysis_report(synthetic_data());
  auto at = page.find("'use strict';");
  ASSERT_NE(at, std::string::npos);
  page.insert(at + 13, " undefinedFunctionForTheTest();");
  auto html = dir / "broken.html";
  write_file_atomic(html, page);
  ChromiumPage run = load_in_chromium(html, "", dir, "--dump-dom");
  auto problems = page_problems(run, 5);
  ASSERT_FALSE(problems.empty()) << "a page whose script throws must be reported";
  ASSERT_FALSE(run.console.empty()) << "chromium did not log the uncaught error:\n" << run.stderr_text;
  EXPECT_NE(run.console[0].find("Uncaught ReferenceError: undefinedFunctionForTheTest"), std::string::npos)
      << run.console[0];
  EXPECT_EQ(dom_attribute(run.dom, "<body", "data-js-errors"), "1");
  EXPECT_EQ(dom_attribute(run.dom, "<body", "data-plots-drawn"), "");
}

TEST(ReportHtml, Screenshot) {
  ILLUME_REQUIRE_CHROMIUM();
  auto dir = test::scratch_dir();
  auto html = dir / "report.html";
  write_analysis_report(html, synthetic_data());
  auto png = dir / "report.png";
  ChromiumPage run = load_in_chromium(html, "", dir, "--screenshot=" + png.string());
  ASSERT_EQ(run.status, 0) << run.stderr_text;
  EXPECT_TRUE(run.console.empty()) << join(run.console);
  ASSERT_TRUE(fs::exists(png));
  std::string bytes = read_file(png);
  EXPECT_EQ(bytes.substr(0, 8), "\x89PNG\r\n\x1a\n");
  EXPECT_GT(bytes.size(), 50000u) << "a screenshot of the drawn page is not this small";
  // ILLUME_REPORT_SCREENSHOT=path keeps a copy (docs/report-screenshot.png is made this way).
  if (const char* keep = std::getenv("ILLUME_REPORT_SCREENSHOT"))
    fs::copy_file(png, keep, fs::copy_options::overwrite_existing);
}

TEST(ReportHtml, EmbeddedJsonIsSafeAndRoundTrips) {
  Json data = synthetic_data();
  data["responses"][1]["tokens"][0] = "a\xE2\x80\xA9" "b</SCRIPT >c<!--d";
  data["responses"][1]["tokens"][1] = std::string("bad \xff byte");
  auto dir = test::scratch_dir();
  write_analysis_report(dir / "sub" / "report.html", data);
  std::string html = read_file(dir / "sub" / "report.html");
  EXPECT_EQ(html, render_analysis_report(data));
  // Only the page's own three scripts open and close; no raw U+2028/2029 anywhere.
  EXPECT_EQ(count(html, "<script"), 3u);
  EXPECT_EQ(count(html, "</script"), 3u);
  EXPECT_EQ(count(html, "</SCRIPT"), 0u);
  EXPECT_EQ(html.find("\xE2\x80\xA8"), std::string::npos);
  EXPECT_EQ(html.find("\xE2\x80\xA9"), std::string::npos);
  EXPECT_EQ(html.find(report_detail::kDataPlaceholder), std::string::npos);
  // The embedded JSON parses back to the data (numbers rounded for size; text exact, bad bytes U+FFFD).
  const std::string open = "<script id=\"illume-data\" type=\"application/json\">";
  auto begin = html.find(open);
  ASSERT_NE(begin, std::string::npos);
  begin += open.size();
  Json back = Json::parse(html.substr(begin, html.find("</script>", begin) - begin));
  EXPECT_EQ(back["responses"][0]["tokens"], data["responses"][0]["tokens"]);
  EXPECT_EQ(back["responses"][1]["tokens"][0], data["responses"][1]["tokens"][0]);
  EXPECT_EQ(back["responses"][1]["tokens"][1], "bad \xEF\xBF\xBD byte");
  EXPECT_EQ(back["title"], data["title"]);
  EXPECT_EQ(back["responses"][0]["preplan"], data["responses"][0]["preplan"]);
  EXPECT_NEAR(back["responses"][0]["waad"][17].get<double>(), data["responses"][0]["waad"][17].get<double>(), 1e-4);
  EXPECT_EQ(back["responses"][0]["maps"]["size"], 256);
}

TEST(ReportHtml, RejectsMalformedData) {
  auto message = [](const Json& data) -> std::string {
    try {
      render_analysis_report(data);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  Json r = {{"tokens", {"a", "b", "c"}}, {"waad", {1.0, 2.0}}};
  EXPECT_EQ(message({{"responses", {r}}}), "analysis report data: responses[0].waad has 2 values for 3 tokens");
  r = {{"tokens", {"a", "b", "c"}}, {"anchor", {0, 3}}};
  EXPECT_EQ(message({{"responses", {r}}}), "analysis report data: responses[0].anchor: index 3 outside 0..2");
  r = {{"tokens", {"a", "b"}}, {"maps", {{"window_begin", 0}, {"size", 2}, {"local", {{1.0, 0.0}, {0.5}}}}}};
  EXPECT_EQ(message({{"responses", {r}}}), "analysis report data: responses[0].maps.local must be 2 x 2 (maps.size)");
  EXPECT_EQ(message({{"responses", {{{"prompt", "p"}}}}}),
            "analysis report data: responses[0]: missing key 'tokens' (an array of strings)");
  EXPECT_EQ(message({{"title", "x"}}), "analysis report data: missing key 'responses' (an array)");
  r = {{"tokens", {"a"}}, {"head_span", {{1.0, 2.0}}}, {"layers", {3, 4}}};
  EXPECT_EQ(message({{"responses", {r}}}),
            "analysis report data: responses[0].layers must list 1 layers (one per head_span row)");
  Json heads = {{"size", 1}, {"ids", Json::array({Json::array({0, 1})})}, {"maps", Json::array({Json::array({Json::array({1.0, 2.0})})})}};
  r = {{"tokens", {"a", "b"}}, {"maps", {{"window_begin", 0}, {"size", 2}, {"heads", heads}}}};
  EXPECT_EQ(message({{"responses", {r}}}),
            "analysis report data: responses[0].maps.heads.maps[] must be 1 x 1 (maps.heads.size)");
  heads.erase("maps");
  r["maps"]["heads"] = heads;
  EXPECT_EQ(message({{"responses", {r}}}),
            "analysis report data: responses[0].maps.heads needs 'ids' and 'maps' arrays of one length");
  // Absent optional parts are fine: a response with tokens only renders.
  EXPECT_NE(render_analysis_report({{"responses", {{{"tokens", {"x"}}}}}}).find("\"tokens\":[\"x\"]"), std::string::npos);
}

#include <gtest/gtest.h>

#include "common.h"
#include "illume/util/config.h"
#include "illume/util/error.h"
#include "illume/util/file.h"

using namespace illume;
using illume::test::error_of;

TEST(Config, YamlScalarsAreTyped) {
  Json j = parse_yaml("a: 3\nb: 1e-6\nc: true\nd: hello\ne: '12'\nf: [10, 100]\ng:\n  h: -2.5\nn: ~\n", "t.yaml");
  EXPECT_TRUE(j["a"].is_number_integer());
  EXPECT_EQ(j["a"].get<int>(), 3);
  EXPECT_TRUE(j["b"].is_number_float());
  EXPECT_DOUBLE_EQ(j["b"].get<double>(), 1e-6);
  EXPECT_EQ(j["c"], true);
  EXPECT_EQ(j["d"], "hello");
  EXPECT_TRUE(j["e"].is_string());  // quoted stays a string
  EXPECT_EQ(j["f"], Json::array({10, 100}));
  EXPECT_DOUBLE_EQ(j["g"]["h"].get<double>(), -2.5);
  EXPECT_TRUE(j["n"].is_null());
}

TEST(Config, MalformedYamlNamesFile) {
  auto msg = error_of([] { parse_yaml("a: [1, 2\nb: {", "bad.yaml"); });
  EXPECT_NE(msg.find("bad.yaml: malformed YAML"), std::string::npos) << msg;
  msg = error_of([] { parse_yaml("- 1\n- 2\n", "list.yaml"); });
  EXPECT_NE(msg.find("list.yaml: expected a YAML mapping"), std::string::npos) << msg;
  msg = error_of([] { parse_yaml("a: 1\na: 2\n", "dup.yaml"); });
  EXPECT_NE(msg.find("dup.yaml"), std::string::npos) << msg;
}

TEST(Config, OverridesCreateAndReplace) {
  Json j = parse_yaml("train:\n  lr: 1.0e-6\n  steps: 500\n", "t.yaml");
  apply_override(j, "train.lr=3e-4");
  apply_override(j, "train.steps=10");
  apply_override(j, "credit.strategy=coupled");
  apply_override(j, "credit.horizon=[5, 50]");
  EXPECT_DOUBLE_EQ(j["train"]["lr"].get<double>(), 3e-4);
  EXPECT_EQ(j["train"]["steps"].get<int>(), 10);
  EXPECT_EQ(j["credit"]["strategy"], "coupled");
  EXPECT_EQ(j["credit"]["horizon"], Json::array({5, 50}));
  EXPECT_NE(error_of([&] { apply_override(j, "novalue"); }).find("not key=value"), std::string::npos);
  EXPECT_NE(error_of([&] { apply_override(j, "train.lr.x=1"); }).find("not a section"), std::string::npos);
  EXPECT_NE(error_of([&] { apply_override(j, "a..b=1"); }).find("empty key"), std::string::npos);
}

TEST(Config, ReaderTypesDefaultsAndUnknownKeys) {
  Json j = parse_yaml("lr: 1e-6\nsteps: 5\nname: run\nflag: true\nsub:\n  q: 0.4\n  typo: 1\n", "cfg.yaml");
  ConfigReader r(j, "cfg.yaml");
  EXPECT_DOUBLE_EQ(r.get_double("lr", 0), 1e-6);
  EXPECT_EQ(r.get_int("steps", 0), 5);
  EXPECT_DOUBLE_EQ(r.get_double("steps", 0), 5.0);  // ints are numbers
  EXPECT_EQ(r.get_string("name", ""), "run");
  EXPECT_EQ(r.get_bool("flag", false), true);
  EXPECT_EQ(r.get_int("absent", 42), 42);
  auto sub = r.section("sub");
  EXPECT_DOUBLE_EQ(sub.get_double("q", 0), 0.4);
  r.finish();  // all top-level keys read
  auto msg = error_of([&] { sub.finish(); });
  EXPECT_EQ(msg, "cfg.yaml: unknown key 'sub.typo'");
}

TEST(Config, ReaderWrongTypes) {
  Json j = parse_yaml("steps: 2.5\nlr: fast\nflag: 1\nmode: sideways\nlist: [1, x]\n", "cfg.yaml");
  ConfigReader r(j, "cfg.yaml");
  EXPECT_NE(error_of([&] { r.get_int("steps", 0); }).find("cfg.yaml: key 'steps' should be an integer, got 2.5"), std::string::npos);
  EXPECT_NE(error_of([&] { r.get_double("lr", 0); }).find("should be a number"), std::string::npos);
  EXPECT_NE(error_of([&] { r.get_bool("flag", false); }).find("should be a boolean"), std::string::npos);
  EXPECT_NE(error_of([&] { r.get_choice("mode", "up", {"up", "down"}); }).find("must be one of up|down, got 'sideways'"), std::string::npos);
  EXPECT_NE(error_of([&] { r.get_double_list("list", {}); }).find("list of numbers"), std::string::npos);
  EXPECT_NE(error_of([&] { r.require_string("missing"); }).find("missing key 'missing'"), std::string::npos);
}

TEST(Config, LoadsFileAndFailsOnMissing) {
  auto dir = test::scratch_dir();
  write_file_atomic(dir / "a.yaml", "x: 1\n");
  EXPECT_EQ(load_yaml_file(dir / "a.yaml")["x"], 1);
  EXPECT_NE(error_of([&] { load_yaml_file(dir / "none.yaml"); }).find("none.yaml"), std::string::npos);
}

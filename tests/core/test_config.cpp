#include <gtest/gtest.h>

#include <cmath>

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
  msg = error_of([] { parse_yaml("a: 1\nb:\n  c: 1\n  c: 2\n", "dup.yaml"); });
  EXPECT_EQ(msg, "dup.yaml: duplicate key 'c'");
}

// nan and inf are not numbers in a recipe (YAML's .nan/.inf, C's nan/inf, overflowing literals).
TEST(Config, NanAndInfAreNotNumbers) {
  Json j = parse_yaml("a: nan\nb: .inf\nc: -inf\nd: 1e999\ne: .NaN\n", "t.yaml");
  for (const char* key : {"a", "b", "c", "d", "e"}) EXPECT_TRUE(j[key].is_string()) << key;
  ConfigReader r(j, "t.yaml");
  EXPECT_EQ(error_of([&] { r.get_double("a", 0); }), "t.yaml: key 'a' should be a number, got \"nan\"");
  EXPECT_NE(error_of([&] { r.get_double_list("d", {}); }).find("should be a list of numbers"), std::string::npos);
  // A tree built in memory can hold a NaN double; it is refused all the same.
  ConfigReader m(Json{{"lr", std::nan("")}}, "memory");
  EXPECT_NE(error_of([&] { m.get_double("lr", 0); }).find("memory: key 'lr' should be a number"), std::string::npos);
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
  EXPECT_NE(error_of([&] { apply_override(j, "a..b=1"); }).find("empty part"), std::string::npos);
}

// An error about a value set by an override names the override, not the file; the file's own
// values still name the file.
TEST(Config, OverrideErrorsNameTheOverride) {
  auto tree = config_tree(parse_yaml("optim:\n  lr: 1.0e-6\n  steps: x\n", "r.yaml"), "r.yaml");
  apply_override(tree, "optim.lr=abc");
  apply_override(tree, "optim.typo=1");
  ConfigReader top(tree);
  auto optim = top.section("optim");
  EXPECT_EQ(error_of([&] { optim.get_double("lr", 0); }), "override 'optim.lr=abc': key 'optim.lr' should be a number, got \"abc\"");
  EXPECT_EQ(error_of([&] { optim.get_int("steps", 0); }), "r.yaml: key 'optim.steps' should be an integer, got \"x\"");
  EXPECT_EQ(error_of([&] { optim.finish(); }), "override 'optim.typo=1': unknown key 'optim.typo'");
  // A section set whole by an override: its keys are the override's.
  apply_override(tree, "optim={lr: fast}");
  auto whole = ConfigReader(tree).section("optim");
  EXPECT_EQ(error_of([&] { whole.get_double("lr", 0); }), "override 'optim={lr: fast}': key 'optim.lr' should be a number, got \"fast\"");
  // A later override of the section replaces the earlier override of a key inside it.
  EXPECT_EQ(tree.overrides.count("optim.lr"), 0u);
  EXPECT_NE(error_of([&] { apply_override(tree, "optim.lr=[1"); }).find("override 'optim.lr=[1': malformed value"), std::string::npos);
}

TEST(Config, ChoicesReadIntoEnumerations) {
  enum class Colour { Red, Blue };
  ConfigReader r(parse_yaml("a: blue\nb: green\n", "c.yaml"), "c.yaml");
  EXPECT_EQ(r.get_enum("a", Colour::Red, {{"red", Colour::Red}, {"blue", Colour::Blue}}), Colour::Blue);
  EXPECT_EQ(r.get_enum("absent", Colour::Blue, {{"red", Colour::Red}, {"blue", Colour::Blue}}), Colour::Blue);
  EXPECT_EQ(error_of([&] { r.get_enum("b", Colour::Red, {{"red", Colour::Red}, {"blue", Colour::Blue}}); }),
            "c.yaml: key 'b' must be one of red|blue, got 'green'");
}

// Paths written in a file are relative to the file's folder; an override's, to the working directory.
TEST(Config, RelativePathsResolveAgainstTheFileFolder) {
  auto dir = test::scratch_dir();
  std::filesystem::create_directories(dir / "recipes");
  write_file_atomic(dir / "recipes" / "r.yaml", "p: ../data/x.jsonl\nq: /abs/y\nr: out\nempty: ''\n");
  auto tree = load_config(dir / "recipes" / "r.yaml");
  apply_override(tree, "r=here/z");
  ConfigReader reader(tree);
  EXPECT_EQ(reader.get_path("p", ""), dir / "data" / "x.jsonl");
  EXPECT_EQ(reader.get_path("q", ""), "/abs/y");
  EXPECT_EQ(reader.get_path("r", ""), std::filesystem::current_path() / "here" / "z");
  EXPECT_EQ(reader.get_path("absent", "fallback"), "fallback");
  EXPECT_NE(error_of([&] { reader.get_path("empty", ""); }).find("key 'empty' should be a path"), std::string::npos);
}

// A key that an older recipe used fails with where it went (for a retired section: its first key).
TEST(Config, RetiredKeysSayWhereTheyWent) {
  auto tree = config_tree(parse_yaml("train:\n  steps: 3\n  eps: 1.0e-8\nout: x\n", "old.yaml"), "old.yaml");
  tree.moved = {{"train.eps", "'optim.adam_eps'"}, {"out", "'run.out'"}};
  ConfigReader top(tree);
  top.get_string("out", "");  // read: only train is left
  EXPECT_EQ(error_of([&] { top.finish(); }), "old.yaml: unknown key 'train.eps' (now 'optim.adam_eps')");
  ConfigReader again(tree);
  again.section("train");
  EXPECT_EQ(error_of([&] { again.finish(); }), "old.yaml: unknown key 'out' (now 'run.out')");
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
  EXPECT_NE(error_of([&] { r.require("missing"); }).find("missing key 'missing'"), std::string::npos);
}

TEST(Config, LoadsFileAndFailsOnMissing) {
  auto dir = test::scratch_dir();
  write_file_atomic(dir / "a.yaml", "x: 1\n");
  EXPECT_EQ(load_yaml_file(dir / "a.yaml")["x"], 1);
  EXPECT_NE(error_of([&] { load_yaml_file(dir / "none.yaml"); }).find("none.yaml"), std::string::npos);
}

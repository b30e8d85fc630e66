#include "illume/study/study_config.h"

#include <algorithm>
#include <set>

#include "illume/rl/credit.h"
#include "illume/util/error.h"

namespace illume::study {
namespace fs = std::filesystem;

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : "|") + n;
  return out;
}

std::vector<std::string> read_strategies(ConfigReader& study) {
  const auto known = credit_strategy_names();
  const Json value = study.get_json("strategies");
  if (value.is_null()) study.invalid("strategies", "is missing (a list of credit strategies, e.g. [none, coupled])");
  if (!value.is_array()) study.invalid("strategies", "should be a list of credit strategies, got " + value.dump());
  if (value.empty()) study.invalid("strategies", "is empty: the grid has no runs");
  std::vector<std::string> out;
  for (const auto& item : value) {
    if (!item.is_string()) study.invalid("strategies", "should hold names, got " + item.dump());
    const auto name = item.get<std::string>();
    if (std::find(known.begin(), known.end(), name) == known.end())
      study.invalid("strategies", "has unknown credit strategy '" + name + "' (one of " + joined(known) + ")");
    if (std::find(out.begin(), out.end(), name) != out.end())
      study.invalid("strategies", "lists '" + name + "' twice");
    out.push_back(name);
  }
  return out;
}

std::vector<std::uint64_t> read_seeds(ConfigReader& study) {
  const Json value = study.get_json("seeds");
  if (value.is_null()) study.invalid("seeds", "is missing (a list of run seeds, e.g. [0, 1, 2])");
  if (!value.is_array()) study.invalid("seeds", "should be a list of non-negative integers, got " + value.dump());
  if (value.empty()) study.invalid("seeds", "is empty: the grid has no runs");
  std::vector<std::uint64_t> out;
  for (const auto& item : value) {
    if (!item.is_number_integer() || item.get<long long>() < 0)
      study.invalid("seeds", "should hold non-negative integers, got " + item.dump());
    const auto seed = item.get<std::uint64_t>();
    if (std::find(out.begin(), out.end(), seed) != out.end()) study.invalid("seeds", "lists " + item.dump() + " twice");
    out.push_back(seed);
  }
  return out;
}

}  // namespace

// study.quick's "key.sub: value" entries as overrides (values written back as YAML flow text: JSON is YAML).
void apply_quick_overrides(ConfigTree& tree) {
  const auto study = tree.root.find("study");
  if (study == tree.root.end() || !study->is_object() || !study->contains("quick"))
    fail("{}: --quick needs a 'study.quick' section (overrides of a CI-sized grid)", tree.source);
  const Json quick = (*study)["quick"];
  if (!quick.is_object()) fail("{}: key 'study.quick' should be a mapping of key.sub: value, got {}", tree.source, quick.dump());
  for (const auto& [key, value] : quick.items()) {
    if (key.rfind("study.quick", 0) == 0) fail("{}: key 'study.quick.{}' cannot set study.quick itself", tree.source, key);
    // Into the tree as if written in the file's sections: messages name the file, and relative paths
    // resolve against its folder (an override's would resolve against the working directory).
    apply_override(tree.root, key + "=" + value.dump());
  }
}

const char* analysed_policies_name(AnalysedPolicies policies) {
  switch (policies) {
    case AnalysedPolicies::None: return "none";
    case AnalysedPolicies::FirstSeed: return "first-seed";
    case AnalysedPolicies::All: return "all";
  }
  return "?";
}

StudyConfig read_study_config(const ConfigTree& tree) {
  StudyConfig c;
  c.source = tree.source;
  ConfigReader root(tree);
  if (!root.has("study")) fail("{}: missing key 'study' (the grid: strategies, seeds, out)", tree.source);
  auto study = root.section("study");
  c.strategies = read_strategies(study);
  c.seeds = read_seeds(study);
  study.require("out");
  c.out = study.get_path("out", {});
  {
    auto analysis = study.section("analysis");
    c.analysed = analysis.get_enum("policies", AnalysedPolicies::FirstSeed,
                                   {{"none", AnalysedPolicies::None}, {"first-seed", AnalysedPolicies::FirstSeed},
                                    {"all", AnalysedPolicies::All}});
    c.analysis_responses = analysis.get_int("responses", c.analysis_responses);
    if (c.analysis_responses < 1) analysis.invalid("responses", "must be >= 1");
    c.analysis_temperature = analysis.get_double("temperature", c.analysis_temperature);
    if (c.analysis_temperature <= 0) analysis.invalid("temperature", "must be > 0 (responses are sampled)");
    analysis.finish();
  }
  (void)study.get_json("quick");  // applied above when asked for
  study.finish();

  // The recipe: everything but the study section, read as `illume train` reads it.
  ConfigTree recipe = tree;
  recipe.root.erase("study");
  c.base = train::read_train_config(recipe);
  if (!c.base.eval.enabled()) {
    ConfigReader reader(recipe);
    reader.section("eval").invalid("every", "must be > 0 in a study (each run's held-out accuracy is what the report compares)");
  }
  const auto runs_dir = c.out / "runs";
  for (auto seed : c.seeds)
    for (const auto& strategy : c.strategies) {
      StudyRun run;
      run.strategy = strategy;
      run.seed = seed;
      run.name = strategy + "-s" + std::to_string(seed);
      ConfigTree one = recipe;
      apply_override(one, "credit.strategy=" + strategy);
      apply_override(one, "run.seed=" + std::to_string(seed));
      apply_override(one, "run.out=" + Json((runs_dir / run.name).string()).dump());
      run.config = train::read_train_config(one);
      c.runs.push_back(std::move(run));
    }
  return c;
}

StudyConfig load_study_config(const fs::path& yaml, const std::vector<std::string>& overrides, bool quick) {
  if (!fs::exists(yaml)) fail("{}: no such study config", yaml.string());
  auto tree = load_config(yaml);
  if (quick) apply_quick_overrides(tree);  // first, so that the command line's overrides win
  for (const auto& o : overrides) apply_override(tree, o);
  auto c = read_study_config(tree);
  c.quick = quick;
  return c;
}

Json study_config_to_json(const StudyConfig& c) {
  Json runs = Json::array();
  for (const auto& r : c.runs) runs.push_back(r.name);
  return {{"study",
           {{"source", c.source},
            {"strategies", c.strategies},
            {"seeds", c.seeds},
            {"out", c.out.string()},
            {"quick", c.quick},
            {"analysis",
             {{"policies", analysed_policies_name(c.analysed)},
              {"responses", c.analysis_responses},
              {"temperature", c.analysis_temperature}}}}},
          {"recipe", train::train_config_to_json(c.base)},
          {"runs", runs}};
}

}  // namespace illume::study

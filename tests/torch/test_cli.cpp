// The `illume` binary end to end on ../shared/fixtures/tiny-qwen3, and its errors on bad input.
#include <torch/torch.h>

#include "common.h"
#include "illume/io/safetensors_torch.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;
using test::run_illume;

namespace {

const char* kSystem = "Please reason step by step, and put your final answer within \\boxed{}.";

std::filesystem::path fixture() { return test::shared_path("fixtures/tiny-qwen3"); }

std::string first_gsm8k_question() {
  auto text = read_file(test::shared_path("data/gsm8k/test.jsonl"));
  return Json::parse(text.substr(0, text.find('\n')))["question"].get<std::string>();
}

std::vector<std::int64_t> ids_of(const std::string& line) {
  std::vector<std::int64_t> ids;
  std::stringstream ss(line);
  std::int64_t x;
  while (ss >> x) ids.push_back(x);
  return ids;
}

std::vector<std::int64_t> tensor_ids(const at::Tensor& t) {
  return std::vector<std::int64_t>(t.data_ptr<std::int64_t>(), t.data_ptr<std::int64_t>() + t.numel());
}

// A copy of the fixture folder made of symlinks, with some files replaced.
std::filesystem::path fixture_variant(const std::map<std::string, std::string>& replaced) {
  auto dir = test::scratch_dir();
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
    if (replaced.count(f)) write_file_atomic(dir / f, replaced.at(f));
    else std::filesystem::create_symlink(fixture() / f, dir / f);
  }
  return dir;
}

void expect_one_line_error(const test::RunResult& r, const std::string& needle) {
  EXPECT_NE(r.status, 0) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
  EXPECT_EQ(r.err.rfind("illume: error: ", 0), 0u) << "stderr: " << r.err;
}

}  // namespace

TEST(Cli, TokenizeChatPromptGivesTheFixtureIds) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/reference.safetensors");
  auto ref = load_safetensors(fixture() / "reference.safetensors");
  auto r = run_illume({"tokenize", "--model", fixture().string(), "--chat", "--no-thinking", "--system", kSystem,
                       "--text", first_gsm8k_question()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(ids_of(r.out), tensor_ids(ref.at("input_ids")));
  auto plain = run_illume({"tokenize", "--model", fixture().string(), "--text", "Hello world"});
  EXPECT_EQ(plain.out, "9707 1879\n");
  auto back = run_illume({"detokenize", "--model", fixture().string(), "--ids", "9707,1879"});
  EXPECT_EQ(back.out, "Hello world\n");
}

TEST(Cli, GenerateGreedyReproducesTheReferenceContinuation) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/reference.safetensors");
  auto ref = load_safetensors(fixture() / "reference.safetensors");
  auto out = test::scratch_dir() / "gen.jsonl";
  auto r = run_illume({"generate", "--model", fixture().string(), "--chat", "--no-thinking", "--system", kSystem,
                       "--prompt", first_gsm8k_question(), "--greedy", "--max-new-tokens", "32", "--out", out.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  auto rows = read_jsonl_file(out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["response_ids"].get<std::vector<std::int64_t>>(), tensor_ids(ref.at("ref_greedy_continuation")));
  EXPECT_EQ(rows[0]["logprobs"].size(), 32u);
  EXPECT_EQ(rows[0]["finish_reason"], "length");
}

TEST(Cli, ForwardWritesLogitsAndAttentionMatchingTheReference) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/reference.safetensors");
  auto ref = load_safetensors(fixture() / "reference.safetensors");
  auto ids = tensor_ids(ref.at("input_ids"));
  std::string id_text;
  for (auto id : ids) id_text += (id_text.empty() ? "" : ",") + std::to_string(id);
  auto out = test::scratch_dir() / "fwd.safetensors";
  auto r = run_illume({"forward", "--model", fixture().string(), "--ids", id_text, "--out", out.string(),
                       "--layers", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto got = load_safetensors(out);
  ASSERT_TRUE(got.count("logits"));
  EXPECT_FALSE(got.count("attn_probs.layer0"));
  auto top = got.at("logits").gather(1, ref.at("ref_logits_top32_ids"));
  EXPECT_LT((top - ref.at("ref_logits_top32")).abs().max().item<double>(), 1e-4);
  EXPECT_LT((got.at("attn_probs.layer1") - ref.at("ref_attn_probs.layer1")).abs().max().item<double>(), 1e-5);
}

TEST(Cli, BadInputGivesOneLineErrorsNamingTheFile) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  // Missing folder.
  expect_one_line_error(run_illume({"generate", "--model", "/nonexistent/model", "--prompt", "x"}), "/nonexistent/model");
  // Malformed config.json.
  auto bad_config = fixture_variant({{"config.json", "{\"model_type\": \"qwen3\", "}});
  expect_one_line_error(run_illume({"generate", "--model", bad_config.string(), "--prompt", "x"}),
                        "config.json: malformed JSON");
  // Unknown architecture.
  auto unknown = fixture_variant({{"config.json", "{\"model_type\": \"mamba\"}"}});
  expect_one_line_error(run_illume({"generate", "--model", unknown.string(), "--prompt", "x"}), "unknown model_type 'mamba'");
  // Shape mismatch between config and weights.
  auto config = read_json_file(fixture() / "config.json");
  config["intermediate_size"] = 96;
  auto mismatch = fixture_variant({{"config.json", config.dump()}});
  expect_one_line_error(run_illume({"generate", "--model", mismatch.string(), "--prompt", "x"}), "shape");
  // Truncated weights.
  auto weights = read_file(fixture() / "model.safetensors");
  auto truncated = fixture_variant({{"model.safetensors", weights.substr(0, weights.size() / 2)}});
  expect_one_line_error(run_illume({"generate", "--model", truncated.string(), "--prompt", "x"}), "model.safetensors");
  // Malformed tokenizer.json.
  auto bad_tok = fixture_variant({{"tokenizer.json", "{\"model\": 3}"}});
  expect_one_line_error(run_illume({"tokenize", "--model", bad_tok.string(), "--text", "x"}), "tokenizer.json");
  // Invalid UTF-8 in an input file.
  auto bad_text = test::scratch_dir() / "latin1.txt";
  write_file_atomic(bad_text, std::string("caf\xe9 au lait"));
  expect_one_line_error(run_illume({"tokenize", "--model", fixture().string(), "--file", bad_text.string()}),
                        "latin1.txt: invalid UTF-8");
  // Ids outside the vocabulary and garbage ids.
  auto out = (test::scratch_dir() / "x.safetensors").string();
  expect_one_line_error(run_illume({"forward", "--model", fixture().string(), "--ids", "1,999999999", "--out", out}),
                        "outside the vocabulary");
  expect_one_line_error(run_illume({"forward", "--model", fixture().string(), "--ids", "1,abc", "--out", out}),
                        "'abc' is not a token id");
  expect_one_line_error(run_illume({"forward", "--model", fixture().string(), "--ids", "1", "--out", out,
                                    "--layers", "7"}),
                        "layer 7 is beyond the model");
  // Malformed prompts JSONL names file and line.
  auto prompts = test::scratch_dir() / "prompts.jsonl";
  write_file_atomic(prompts, "{\"prompt\": \"a\"}\n{\"prompt\": \n");
  expect_one_line_error(run_illume({"generate", "--model", fixture().string(), "--prompts", prompts.string()}),
                        "prompts.jsonl:2: malformed JSON");
}

TEST(Cli, EveryCommandHasHelp) {
  for (const char* cmd : {"generate", "tokenize", "detokenize", "forward", "info", "demo", "analyze", "perturb", "score",
                          "train", "eval", "sft", "countdown-gen", "countdown-tokenizer", "report"}) {
    auto r = run_illume({cmd, "--help"});
    EXPECT_EQ(r.status, 0) << cmd;
    EXPECT_NE(r.out.find("--"), std::string::npos) << cmd;
  }
  auto r = run_illume({"no-such-command"});
  EXPECT_NE(r.status, 0);
}

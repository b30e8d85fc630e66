// llama.cpp runs illume's GGUF exports: the F32 export of each fixture gives illume's logits and the
// fixture's float64 reference logits within 1e-4 (llama.cpp with an F32 KV cache and flash attention
// off, as the fixtures' README measured it), and llama.cpp's tokenizer, reading the exported
// vocabulary, merges and pre-tokenizer name, gives the ids of ../shared/tokenizer/qwen3_vectors.jsonl.
//
// llama.cpp is fetched from npm at test time (bench/llama/build.sh: prebuilt libllama of
// @node-llama-cpp/linux-x64 3.22.1, headers from the source bundle of node-llama-cpp; cached under
// ~/.cache/illume). When npm or its registry cannot be reached the tests are skipped with that message.
#include <torch/torch.h>
#include <utf8proc.h>

#include <fstream>
#include <sstream>

#include "common.h"
#include "illume/io/safetensors_torch.h"
#include "illume/model/model.h"
#include "illume/util/file.h"
#include "illume/util/json.h"
#include "illume/util/jsonl.h"

using namespace illume;
namespace fs = std::filesystem;

namespace {

struct Harness {
  int status = -1;
  std::string path;     // the llama_harness program
  std::string message;  // the build script's last lines when it failed
};

// Fetches and builds once per test process (the script itself caches across processes).
const Harness& harness() {
  static const Harness built = [] {
    Harness h;
    auto log = fs::temp_directory_path() / ("illume-llama-build-" + std::to_string(::getpid()) + ".log");
    std::string command = test::shell_quote((fs::path(build::source_dir()) / "bench/llama/build.sh").string()) +
                          " 2>" + test::shell_quote(log.string());
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return h;
    char buffer[4096];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) h.path.append(buffer, n);
    int status = ::pclose(pipe);
    h.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    while (!h.path.empty() && h.path.back() == '\n') h.path.pop_back();
    h.message = read_file(log);
    fs::remove(log);
    return h;
  }();
  return built;
}

#define REQUIRE_LLAMA_CPP()                                                                              \
  do {                                                                                                   \
    const auto& h = harness();                                                                           \
    if (h.status == 77) GTEST_SKIP() << "llama.cpp is not available from npm, skipped: " << h.message; \
    ASSERT_EQ(h.status, 0) << "bench/llama/build.sh failed: " << h.message;                            \
  } while (0)

// Runs the harness; returns its stdout, failing the test on a non-zero status.
std::string run_harness(const std::vector<std::string>& args) {
  std::string command = test::shell_quote(harness().path);
  for (const auto& a : args) command += " " + test::shell_quote(a);
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  std::string out;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  int status = ::pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command << "\n" << out;
  return out;
}

fs::path export_fixture(const std::string& name, const fs::path& out) {
  auto run = test::run_illume({"export", "--model", test::shared_path("fixtures/" + name).string(), "--format", "gguf",
                               "--dtype", "f32", "--out", out.string()});
  EXPECT_EQ(run.status, 0) << run.err;
  return out;
}

double max_abs(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

class LlamaCppRunsExport : public ::testing::TestWithParam<const char*> {};

}  // namespace

TEST_P(LlamaCppRunsExport, LogitsMatchIllumeAndTheReference) {
  const std::string name = GetParam();
  ILLUME_REQUIRE_SHARED_PATH("fixtures/" + name + "/reference.safetensors");
  REQUIRE_LLAMA_CPP();
  const auto dir = test::shared_path("fixtures/" + name);
  const auto scratch = test::scratch_dir();
  auto gguf_path = export_fixture(name, scratch / (name + ".gguf"));
  auto reference = load_safetensors(dir / "reference.safetensors");
  auto ids = reference.at("input_ids");
  std::string id_list;
  for (std::int64_t i = 0; i < ids.size(0); ++i) id_list += (i ? "," : "") + std::to_string(ids[i].item<std::int64_t>());
  const auto logits_path = scratch / "llama_logits.f32";
  run_harness({"logits", gguf_path.string(), "--ids", id_list, "--out", logits_path.string(), "--kv", "f32", "--flash", "off"});

  const auto bytes = read_file(logits_path);
  const std::int64_t S = ids.size(0);
  ASSERT_EQ(bytes.size() % (S * 4), 0u);
  const std::int64_t V = static_cast<std::int64_t>(bytes.size()) / (S * 4);
  auto llama = torch::from_blob(const_cast<char*>(bytes.data()), {S, V}, torch::kFloat).clone();

  auto model = Model::load(dir);
  ASSERT_EQ(V, model.config().vocab_size);
  torch::NoGradGuard no_grad;
  auto illume_logits = model.forward(ids.unsqueeze(0), torch::ones({1, S}, torch::kLong))[0];
  const double vs_illume = max_abs(llama, illume_logits);
  const double vs_reference_top = max_abs(llama.gather(1, reference.at("ref_logits_top32_ids")), reference.at("ref_logits_top32"));
  const double vs_reference_last = max_abs(llama[-1], reference.at("ref_logits_last"));
  std::printf("%s: llama.cpp vs illume, all %lld x %lld logits: %.3g; vs the float64 reference: top-32 %.3g, last %.3g\n",
              name.c_str(), static_cast<long long>(S), static_cast<long long>(V), vs_illume, vs_reference_top,
              vs_reference_last);
  EXPECT_LT(vs_illume, 1e-4);
  EXPECT_LT(vs_reference_top, 1e-4);
  EXPECT_LT(vs_reference_last, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LlamaCppRunsExport, ::testing::Values("tiny-qwen3", "tiny-qwen2"));

// Llama has no fixture here: a random tiny Llama 3 (llama3 rope scaling, untied head) checks the
// q/k row permutation to llama.cpp's interleaved rope and the rope_freqs tensor against illume's own
// forward. Its tokenizer is the Qwen3 vocabulary with Llama 3's split regex (only the pre-tokenizer
// name depends on it).
TEST(LlamaCppRunsExport, RandomLlama3WithRopeScalingMatchesIllume) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/tokenizer.json");
  REQUIRE_LLAMA_CPP();
  const auto scratch = test::scratch_dir();
  const auto dir = scratch / "tiny-llama3";
  Json j = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", 151936},
            {"hidden_size", 64}, {"intermediate_size", 96}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
            {"num_key_value_heads", 2}, {"max_position_embeddings", 1024}, {"rms_norm_eps", 1e-5},
            {"rope_theta", 10000.0}, {"tie_word_embeddings", false},
            {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                              {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 64}}}};
  auto model = Model::random(ModelConfig::from_json(j, "test"), 3);
  {
    // Larger q and k than the random init: attention far from uniform, so that a rope layout error
    // shows in the logits (with the init's scale it would hide below 1e-4; with q and k x8 and no
    // permutation the logits differ by 9.6). The scores grow 16x with them, and so does the effect of
    // llama.cpp computing rope angles in float32 (illume: float64): hence 1e-3, not 1e-4.
    torch::NoGradGuard no_grad;
    for (auto& layer : model.weights().layers) {
      layer.q_proj.mul_(4);
      layer.k_proj.mul_(4);
    }
    model.weights().lm_head.mul_(8);
  }
  model.save(dir, torch::kFloat);
  auto tokenizer = read_json_file(test::shared_path("fixtures/tiny-qwen3/tokenizer.json"));
  auto& regex = tokenizer["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"];
  auto text = regex.get<std::string>();
  const std::string digits = "\\p{N}|";
  ASSERT_NE(text.find(digits), std::string::npos);
  regex = text.replace(text.find(digits), digits.size(), "\\p{N}{1,3}|");
  write_file_atomic(dir / "tokenizer.json", tokenizer.dump());
  auto gguf_path = scratch / "tiny-llama3.gguf";
  auto run = test::run_illume({"export", "--model", dir.string(), "--format", "gguf", "--out", gguf_path.string()});
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.err.find("pre-tokenizer llama-bpe"), std::string::npos) << run.err;

  std::vector<std::int64_t> id_list;
  std::string ids_text;
  for (std::int64_t i = 0; i < 48; ++i) {
    id_list.push_back((i * 7919 + 13) % 151643);
    ids_text += (i ? "," : "") + std::to_string(id_list.back());
  }
  const auto logits_path = dir / "llama_logits.f32";
  run_harness({"logits", gguf_path.string(), "--ids", ids_text, "--out", logits_path.string(), "--kv", "f32", "--flash", "off"});
  const auto bytes = read_file(logits_path);
  const std::int64_t S = 48, V = 151936;
  ASSERT_EQ(bytes.size(), static_cast<std::size_t>(S * V * 4));
  auto llama = torch::from_blob(const_cast<char*>(bytes.data()), {S, V}, torch::kFloat).clone();
  torch::NoGradGuard no_grad;
  auto ids = torch::tensor(id_list, torch::kLong).unsqueeze(0);
  auto illume_logits = model.forward(ids, torch::ones_like(ids))[0];
  const double difference = max_abs(llama, illume_logits);
  std::printf("random Llama 3: llama.cpp vs illume, all %lld x %lld logits: %.3g (logits span %.3g)\n",
              static_cast<long long>(S), static_cast<long long>(V), difference,
              (illume_logits.max() - illume_logits.min()).item<double>());
  EXPECT_LT(difference, 1e-3);
}

// tiny-qwen3 carries the real Qwen3 tokenizer. Texts are given to llama.cpp NFC-normalised: the
// tokenizer's normalizer is NFC and llama.cpp does not apply it (it would split a decomposed
// "e + combining accent" differently: the one "misc" row of the vectors that is not NFC).
TEST(LlamaCppTokenizer, ExportedQwen3VocabularyGivesTheReferenceIds) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/tokenizer.json");
  ILLUME_REQUIRE_SHARED_PATH("tokenizer/qwen3_vectors.jsonl");
  REQUIRE_LLAMA_CPP();
  const auto scratch = test::scratch_dir();
  auto gguf_path = export_fixture("tiny-qwen3", scratch / "tiny-qwen3.gguf");
  auto rows = read_jsonl_file(test::shared_path("tokenizer/qwen3_vectors.jsonl"));
  std::string texts;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto text = rows[i]["text"].get<std::string>();
    auto* normal = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(text.c_str()));
    ASSERT_NE(normal, nullptr);
    if (i) texts.push_back('\0');
    texts += reinterpret_cast<const char*>(normal);
    std::free(normal);
  }
  write_file_atomic(scratch / "texts.bin", texts);
  auto out = run_harness({"tokenize", gguf_path.string(), "--texts", (scratch / "texts.bin").string()});
  std::istringstream lines(out);
  std::string line;
  std::size_t row = 0, agree = 0;
  while (std::getline(lines, line) && row < rows.size()) {
    std::vector<std::int64_t> got;
    std::istringstream numbers(line);
    for (std::int64_t id; numbers >> id;) got.push_back(id);
    const auto expected = rows[row]["ids"].get<std::vector<std::int64_t>>();
    if (got == expected) ++agree;
    else ADD_FAILURE() << "row " << row << " (" << rows[row]["source"].get<std::string>() << "): llama.cpp's ids differ";
    ++row;
  }
  std::printf("llama.cpp tokenizer on the exported Qwen3 vocabulary: %zu / %zu texts give the reference ids\n", agree,
              rows.size());
  EXPECT_EQ(row, rows.size());
  EXPECT_EQ(agree, rows.size());
}

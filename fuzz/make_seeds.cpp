// Writes the fuzz targets' seed corpora into OUT/<target>/ (`make_seeds OUT`), derived from the
// repository's own files (configs/, models/illume-countdown-tiny) and, when present, ../shared's
// fixtures and data. Nothing large: safetensors seeds are small files written here plus the headers
// of the fixture checkpoints; JSONL seeds are the first rows of each data file.
#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>

#include "fuzz_common.h"
#include "illume/data/countdown_gen.h"
#include "illume/io/model_config.h"
#include "illume/io/safetensors.h"
#include "illume/text/tokenizer_builder.h"
#include "illume/util/file.h"
#include "illume/util/jsonl.h"

namespace fs = std::filesystem;

namespace {

fs::path out_root;
std::map<std::string, int> counts;

void seed(const std::string& target, std::string_view bytes) {
  auto dir = out_root / target;
  fs::create_directories(dir);
  std::ofstream(dir / fmt::format("seed-{:03}", counts[target]++), std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void seed_file(const std::string& target, const fs::path& path) {
  if (fs::exists(path)) seed(target, illume::read_file(path));
}

// The first `limit` non-empty lines of a text file.
std::vector<std::string> first_lines(const fs::path& path, std::size_t limit) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; lines.size() < limit && std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

// The 8-byte length and the JSON header of a safetensors file, without its data.
void seed_safetensors_header(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  unsigned char length[8] = {};
  in.read(reinterpret_cast<char*>(length), 8);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(length[i]) << (8 * i);
  if (!in || n > 1'000'000) return;
  std::string bytes(8 + n, '\0');
  std::memcpy(bytes.data(), length, 8);
  in.read(bytes.data() + 8, static_cast<std::streamsize>(n));
  if (in) seed("fuzz_safetensors", bytes);
}

void safetensors_seeds(const fs::path& root, const fs::path& shared, const fs::path& scratch) {
  using illume::st::DType;
  const float f32[6] = {1, 2, 3, 4, 5, 6};
  const std::uint16_t bf16[4] = {0x3f80, 0x4000, 0x4040, 0x4080};
  const std::uint8_t flags[3] = {1, 0, 1};
  const std::int64_t i64[2] = {-1, 7};
  std::vector<std::vector<illume::st::TensorToWrite>> files = {
      {{"weight", DType::F32, {2, 3}, f32, sizeof f32}},
      {{"a", DType::BF16, {4}, bf16, sizeof bf16}, {"b", DType::BOOL, {3}, flags, sizeof flags},
       {"empty", DType::F16, {0, 5}, nullptr, 0}, {"scalar", DType::I64, {}, i64, 8}},
      {{"model.embed_tokens.weight", DType::F32, {3, 2}, f32, sizeof f32}, {"ids", DType::I64, {2}, i64, sizeof i64}},
  };
  for (std::size_t i = 0; i < files.size(); ++i) {
    auto path = scratch / fmt::format("seed{}.safetensors", i);
    illume::st::write_safetensors(path, files[i], i == 1 ? std::map<std::string, std::string>{{"format", "pt"}}
                                                          : std::map<std::string, std::string>{});
    seed_file("fuzz_safetensors", path);
  }
  seed_safetensors_header(root / "models/illume-countdown-tiny/model.safetensors");
  for (const char* fixture : {"tiny-qwen3", "tiny-qwen2"}) {
    seed_safetensors_header(shared / "fixtures" / fixture / "model.safetensors");
    seed_safetensors_header(shared / "fixtures" / fixture / "reference.safetensors");
  }
}

void config_seeds(const fs::path& root, const fs::path& shared) {
  seed_file("fuzz_model_config", root / "models/illume-countdown-tiny/config.json");
  for (const char* fixture : {"tiny-qwen3", "tiny-qwen2"}) seed_file("fuzz_model_config", shared / "fixtures" / fixture / "config.json");
  // A Llama 3 config with rope scaling, derived from the default model's.
  auto path = root / "models/illume-countdown-tiny/config.json";
  if (!fs::exists(path)) return;
  auto config = illume::ModelConfig::load(path.parent_path());
  config.architecture = illume::Architecture::Llama;
  config.model_type = "llama";
  config.rope_scaling = {"llama3", 8.0, 1.0, 4.0, 8192};
  config.eos_token_ids = {1, 2};
  config.bos_token_id = 0;
  seed("fuzz_model_config", config.to_json().dump(2));
}

void tokenizer_seeds(const fs::path& root, const fs::path& shared) {
  seed_file("fuzz_tokenizer_load", root / "models/illume-countdown-tiny/tokenizer.json");
  // Small byte-level tokenizers built as the default model's was, and variants of the features the
  // loader supports (a normaliser Sequence, "a b" merges, ByteLevel with its own regex, unk_token).
  illume::TokenizerSpec spec;
  spec.num_merges = 24;
  auto json = illume::build_byte_level_tokenizer({"the cat sat on the mat", "12 + 34 = 46", "<answer>(1+2)*3</answer>"}, spec);
  seed("fuzz_tokenizer_load", json.dump());
  auto variant = json;
  variant["normalizer"] = {{"type", "Sequence"}, {"normalizers", illume::Json::array({{{"type", "NFC"}}})}};
  illume::Json merges = illume::Json::array();
  for (const auto& pair : json["model"]["merges"]) merges.push_back(pair[0].get<std::string>() + " " + pair[1].get<std::string>());
  variant["model"]["merges"] = merges;
  variant["model"]["unk_token"] = "a";
  variant["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  seed("fuzz_tokenizer_load", variant.dump());
  spec.num_merges = 0;
  seed("fuzz_tokenizer_load", illume::build_byte_level_tokenizer({}, spec).dump());

  // Round trip: selector byte (0: the default model's tokenizer, 1: Qwen3's) + text.
  std::vector<std::string> texts = {"Hello, world!", "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<think>\n\n</think>",
                                    "Caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80 \xe2\x88\x92""3",
                                    "  spaces\t\ttabs\r\nnewlines\n\n\n", "<answer>(44 - 19) * 3</answer>"};
  for (const auto& row : first_lines(shared / "tokenizer/qwen3_vectors.jsonl", 40)) {
    auto value = illume::Json::parse(row, nullptr, false);
    if (value.is_object() && value.contains("text") && value["text"].is_string()) texts.push_back(value["text"]);
  }
  for (const auto& text : texts)
    for (char selector : {'\0', '\1'}) seed("fuzz_tokenizer_roundtrip", std::string(1, selector) + text);
}

void yaml_seeds(const fs::path& root) {
  for (const auto& entry : fs::directory_iterator(root / "configs"))
    if (entry.path().extension() == ".yaml") seed_file("fuzz_yaml_config", entry.path());
  seed("fuzz_yaml_config", "optim:\n  lr: 1e-6\n  betas: [0.9, 0.999]\nrun:\n  out: runs/x\n#= optim.lr=2e-6\n");
  seed("fuzz_yaml_config", "base: &b {a: 1, b: [x, y]}\nother: *b\nflag: true\nname: 'quoted'\n");
}

void data_seeds(const fs::path& shared) {
  for (const char* task : {"countdown", "gsm8k", "math500", "aime24", "aime25", "amc23", "olympiadbench", "minerva_math"}) {
    // Short rows only: every byte of a seed is parsed on every execution.
    std::string text;
    for (const auto& line : first_lines(shared / "data" / task / "test.jsonl", 20))
      if (line.size() < 1500 && text.size() < 3000) text += line + "\n";
    if (!text.empty()) seed("fuzz_jsonl", text);
  }
  seed("fuzz_jsonl", "{\"prompt\": \"Say hi\", \"system\": \"Be brief\"}\n\n{\"question\": \"1+1?\"}\r\n");
}

void reward_seeds(const fs::path& shared) {
  auto puzzles = illume::data::generate_countdown_set(7, 24, illume::data::CountdownGenOptions{});
  for (std::size_t i = 0; i < puzzles.size(); ++i) {
    const auto& puzzle = puzzles[i];
    std::string numbers;
    for (auto n : puzzle.nums) numbers += std::to_string(n) + " ";
    numbers += std::to_string(puzzle.target) + "\n";
    std::string response = i % 3 == 0 ? puzzle.response : "<answer>" + puzzle.expression + "</answer>";
    if (i % 4 == 1) response = "<answer> " + puzzle.expression + " ** 2 / 3.5 </answer>";
    seed("fuzz_reward_countdown", numbers + response);
    seed("fuzz_reward_countdown_tinyzero", numbers + response);
  }
  for (const char* task : {"math500", "aime24", "amc23"}) {
    for (const auto& line : first_lines(shared / "data" / task / "test.jsonl", 8)) {
      auto row = illume::Json::parse(line, nullptr, false);
      if (!row.is_object() || !row.contains("answer")) continue;
      std::string answer = row["answer"].is_string() ? row["answer"].get<std::string>() : row["answer"].dump();
      seed("fuzz_reward_math", answer + "\nSo the answer is $\\boxed{" + answer + "}$.");
    }
  }
  for (const char* pair : {"\\frac{1}{2}\nThe answer is \\boxed{0.5}", "50\\%\n\\boxed{50}", "x=5\n\\boxed{5 cm}",
                           "(1,2)\n\\fbox{(1, 2)}", "1,000\n\\boxed 1000", "-3\n\\boxed{\xe2\x88\x92""3}"})
    seed("fuzz_reward_math", pair);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds OUT_DIR\n";
    return 2;
  }
  try {
    out_root = argv[1];
    fs::remove_all(out_root);
    fs::create_directories(out_root);
    const fs::path root = illume::fuzz::source_dir(), shared = illume::fuzz::shared_dir();
    if (!fs::exists(shared / "data")) std::cerr << "make_seeds: " << shared.string() << " is absent; seeds from the repository only\n";
    const fs::path scratch = out_root / ".scratch";
    safetensors_seeds(root, shared, scratch);
    fs::remove_all(scratch);
    config_seeds(root, shared);
    tokenizer_seeds(root, shared);
    yaml_seeds(root);
    data_seeds(shared);
    reward_seeds(shared);
  } catch (const std::exception& e) {
    std::cerr << "make_seeds: " << e.what() << "\n";
    return 1;
  }
  for (const auto& [target, count] : counts) std::cout << "  " << target << ": " << count << " seeds\n";
  return 0;
}

// GGUF writer and `illume export --format gguf`: files are parsed back by a minimal reader written
// here from the format description (not the writer's code), and checked against the sources
// (../shared fixtures' safetensors and tokenizer files). That llama.cpp itself runs the exports is
// tests/torch/test_gguf_llama_cpp.cpp.
#include <bit>
#include <cmath>
#include <cstring>
#include <map>

#include "common.h"
#include "illume/io/gguf.h"
#include "illume/io/gguf_export.h"
#include "illume/io/safetensors.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;
namespace fs = std::filesystem;

namespace {

// --- a minimal GGUF reader -------------------------------------------------------------------

struct Value {
  std::uint32_t type = 0;           // GGUF value type
  std::uint32_t element_type = 0;   // arrays
  std::uint64_t unsigned_value = 0;
  std::int64_t signed_value = 0;
  double float_value = 0;
  std::string text;
  std::vector<std::string> texts;
  std::vector<std::int64_t> integers;
};

struct TensorInfo {
  std::vector<std::int64_t> dims;  // as stored: innermost first
  std::uint32_t type = 0;
  std::uint64_t offset = 0;
};

struct Parsed {
  std::uint32_t version = 0;
  std::map<std::string, Value> values;
  std::vector<std::string> key_order;
  std::map<std::string, TensorInfo> tensors;
  std::vector<std::string> tensor_order;
  std::size_t data_start = 0;
  std::string bytes;

  const Value& at(const std::string& key) const {
    auto it = values.find(key);
    if (it == values.end()) throw std::runtime_error("no key " + key);
    return it->second;
  }
  std::string_view data_of(const std::string& name, std::size_t nbytes) const {
    return std::string_view(bytes).substr(data_start + tensors.at(name).offset, nbytes);
  }
};

class Cursor {
 public:
  explicit Cursor(const std::string& bytes) : bytes_(bytes) {}
  template <typename T>
  T read() {
    if (at_ + sizeof(T) > bytes_.size()) throw std::runtime_error("truncated");
    T v;
    std::memcpy(&v, bytes_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return v;
  }
  std::string string() {
    auto n = read<std::uint64_t>();
    if (at_ + n > bytes_.size()) throw std::runtime_error("truncated string");
    std::string s = bytes_.substr(at_, n);
    at_ += n;
    return s;
  }
  std::size_t position() const { return at_; }

 private:
  const std::string& bytes_;
  std::size_t at_ = 0;
};

void read_scalar(Cursor& c, std::uint32_t type, Value& v) {
  switch (type) {
    case 0: v.unsigned_value = c.read<std::uint8_t>(); break;
    case 1: v.signed_value = c.read<std::int8_t>(); break;
    case 2: v.unsigned_value = c.read<std::uint16_t>(); break;
    case 3: v.signed_value = c.read<std::int16_t>(); break;
    case 4: v.unsigned_value = c.read<std::uint32_t>(); break;
    case 5: v.signed_value = c.read<std::int32_t>(); break;
    case 6: v.float_value = c.read<float>(); break;
    case 7: v.unsigned_value = c.read<std::uint8_t>(); break;
    case 8: v.text = c.string(); break;
    case 10: v.unsigned_value = c.read<std::uint64_t>(); break;
    case 11: v.signed_value = c.read<std::int64_t>(); break;
    case 12: v.float_value = c.read<double>(); break;
    default: throw std::runtime_error("bad value type " + std::to_string(type));
  }
}

Parsed parse_gguf(const fs::path& path) {
  Parsed p;
  p.bytes = read_file(path);
  Cursor c(p.bytes);
  if (p.bytes.substr(0, 4) != "GGUF") throw std::runtime_error("bad magic");
  c.read<std::uint32_t>();
  p.version = c.read<std::uint32_t>();
  auto tensor_count = c.read<std::int64_t>();
  auto kv_count = c.read<std::int64_t>();
  for (std::int64_t i = 0; i < kv_count; ++i) {
    auto key = c.string();
    Value v;
    v.type = c.read<std::uint32_t>();
    if (v.type == 9) {
      v.element_type = c.read<std::uint32_t>();
      auto n = c.read<std::uint64_t>();
      for (std::uint64_t k = 0; k < n; ++k) {
        Value e;
        read_scalar(c, v.element_type, e);
        if (v.element_type == 8) v.texts.push_back(e.text);
        else v.integers.push_back(e.signed_value ? e.signed_value : static_cast<std::int64_t>(e.unsigned_value));
      }
    } else {
      read_scalar(c, v.type, v);
    }
    p.key_order.push_back(key);
    p.values[key] = v;
  }
  for (std::int64_t i = 0; i < tensor_count; ++i) {
    auto name = c.string();
    TensorInfo t;
    auto n_dims = c.read<std::uint32_t>();
    for (std::uint32_t d = 0; d < n_dims; ++d) t.dims.push_back(c.read<std::int64_t>());
    t.type = c.read<std::uint32_t>();
    t.offset = c.read<std::uint64_t>();
    p.tensor_order.push_back(name);
    p.tensors[name] = t;
  }
  std::size_t alignment = p.values.count("general.alignment") ? p.values["general.alignment"].unsigned_value : 32;
  p.data_start = (c.position() + alignment - 1) / alignment * alignment;
  return p;
}

std::string_view bytes_of(const st::TensorView& view) {
  return std::string_view(reinterpret_cast<const char*>(view.data), view.nbytes);
}

}  // namespace

// --- the writer ------------------------------------------------------------------------------

TEST(GgufWriter, HeaderMetadataAndTensorBytesReadBack) {
  auto path = test::scratch_dir() / "small.gguf";
  gguf::Metadata metadata;
  metadata.add_string("general.architecture", "qwen3");
  metadata.add_uint32("qwen3.block_count", 28);
  metadata.add_int32("test.negative", -5);
  metadata.add_uint64("test.big", 1ULL << 40);
  metadata.add_float32("qwen3.rope.freq_base", 1e6f);
  metadata.add_bool("test.flag", true);
  metadata.add_string_array("test.strings", {"a", "", "Ġb c"});
  metadata.add_int32_array("test.ints", {1, -3, 5});
  EXPECT_ERROR_CONTAINS(metadata.add_bool("test.flag", false), "duplicate key 'test.flag'");

  const std::vector<float> matrix = {1, 2, 3, 4, 5, 6};  // [2, 3]
  const std::vector<std::uint16_t> halves = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000};
  std::vector<gguf::TensorToWrite> tensors(3);
  tensors[0] = {"matrix.weight", gguf::TensorType::F32, {2, 3},
                [&](std::uint8_t* out) { std::memcpy(out, matrix.data(), 24); }};
  tensors[1] = {"vector.weight", gguf::TensorType::BF16, {5},
                [&](std::uint8_t* out) { std::memcpy(out, halves.data(), 10); }};
  tensors[2] = {"cube.weight", gguf::TensorType::F16, {1, 1, 5},
                [&](std::uint8_t* out) { std::memcpy(out, halves.data(), 10); }};
  gguf::write_gguf(path, metadata, tensors);

  auto p = parse_gguf(path);
  EXPECT_EQ(p.version, 3u);
  EXPECT_EQ(p.key_order.size(), 9u);  // 8 + general.alignment
  EXPECT_EQ(p.key_order.front(), "general.architecture");
  EXPECT_EQ(p.at("general.architecture").text, "qwen3");
  EXPECT_EQ(p.at("general.alignment").type, 4u);
  EXPECT_EQ(p.at("general.alignment").unsigned_value, 32u);
  EXPECT_EQ(p.at("qwen3.block_count").type, 4u);
  EXPECT_EQ(p.at("qwen3.block_count").unsigned_value, 28u);
  EXPECT_EQ(p.at("test.negative").type, 5u);
  EXPECT_EQ(p.at("test.negative").signed_value, -5);
  EXPECT_EQ(p.at("test.big").unsigned_value, 1ULL << 40);
  EXPECT_EQ(p.at("qwen3.rope.freq_base").type, 6u);
  EXPECT_EQ(p.at("qwen3.rope.freq_base").float_value, 1e6);
  EXPECT_EQ(p.at("test.flag").type, 7u);
  EXPECT_EQ(p.at("test.flag").unsigned_value, 1u);
  EXPECT_EQ(p.at("test.strings").element_type, 8u);
  EXPECT_EQ(p.at("test.strings").texts, (std::vector<std::string>{"a", "", "Ġb c"}));
  EXPECT_EQ(p.at("test.ints").element_type, 5u);
  EXPECT_EQ(p.at("test.ints").integers, (std::vector<std::int64_t>{1, -3, 5}));

  EXPECT_EQ(p.tensor_order, (std::vector<std::string>{"matrix.weight", "vector.weight", "cube.weight"}));
  EXPECT_EQ(p.tensors["matrix.weight"].dims, (std::vector<std::int64_t>{3, 2}));  // reversed
  EXPECT_EQ(p.tensors["matrix.weight"].type, 0u);
  EXPECT_EQ(p.tensors["vector.weight"].type, 30u);
  EXPECT_EQ(p.tensors["cube.weight"].type, 1u);
  EXPECT_EQ(p.tensors["cube.weight"].dims, (std::vector<std::int64_t>{5, 1, 1}));
  EXPECT_EQ(p.data_start % 32, 0u);
  for (auto& [name, t] : p.tensors) EXPECT_EQ(t.offset % 32, 0u) << name;
  EXPECT_EQ(p.tensors["vector.weight"].offset, 32u);  // 24 bytes padded to 32
  EXPECT_EQ(p.data_of("matrix.weight", 24), std::string_view(reinterpret_cast<const char*>(matrix.data()), 24));
  EXPECT_EQ(p.data_of("cube.weight", 10), std::string_view(reinterpret_cast<const char*>(halves.data()), 10));
  EXPECT_EQ(p.bytes.size(), p.data_start + 32 + 32 + 32);
  // Atomic: no temp file left beside it.
  EXPECT_EQ(std::distance(fs::directory_iterator(path.parent_path()), fs::directory_iterator()), 1);
}

TEST(GgufWriter, RefusesBadTensorsAndLeavesNoFile) {
  auto dir = test::scratch_dir();
  gguf::Metadata metadata;
  auto fill = [](std::uint8_t*) {};
  std::vector<gguf::TensorToWrite> duplicate = {{"a", gguf::TensorType::F32, {1}, fill}, {"a", gguf::TensorType::F32, {1}, fill}};
  EXPECT_ERROR_CONTAINS(gguf::write_gguf(dir / "x.gguf", metadata, duplicate), "duplicate tensor name 'a'");
  std::vector<gguf::TensorToWrite> zero = {{"z", gguf::TensorType::F32, {0, 2}, fill}};
  EXPECT_ERROR_CONTAINS(gguf::write_gguf(dir / "x.gguf", metadata, zero), "has a dimension 0");
  std::vector<gguf::TensorToWrite> throwing = {
      {"t", gguf::TensorType::F32, {4}, [](std::uint8_t*) { throw Error("source.safetensors: unreadable"); }}};
  EXPECT_ERROR_CONTAINS(gguf::write_gguf(dir / "x.gguf", metadata, throwing), "source.safetensors: unreadable");
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(GgufWriter, HalfAndBfloatRoundToNearestEven) {
  using gguf::float_to_f16, gguf::float_to_bf16;
  EXPECT_EQ(float_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(float_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(float_to_f16(65504.0f), 0x7bff);        // largest half
  EXPECT_EQ(float_to_f16(65520.0f), 0x7c00);        // halfway to 65536: rounds up to infinity
  EXPECT_EQ(float_to_f16(65519.0f), 0x7bff);
  EXPECT_EQ(float_to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // tie: to even (zero)
  EXPECT_EQ(float_to_f16(std::ldexp(3.0f, -25)), 0x0002);  // tie between 1 and 2 units: to even (2)
  EXPECT_EQ(float_to_f16(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(float_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);       // tie: to even
  EXPECT_EQ(float_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);   // tie: to even (up)
  EXPECT_EQ(float_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(float_to_f16(INFINITY), 0x7c00);
  EXPECT_EQ(float_to_f16(NAN) & 0x7e00, 0x7e00);
  EXPECT_EQ(float_to_f16(1e-10f), 0x0000);
  // Every finite half survives half -> float -> half.
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00) continue;
    ASSERT_EQ(float_to_f16(gguf::f16_to_float(static_cast<std::uint16_t>(h))), h) << h;
  }
  EXPECT_EQ(gguf::f16_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(gguf::f16_to_float(0x3555), 0.333251953125f);

  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie: to even (down)
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie: to even (up)
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3f808001u)), 0x3f81);
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x7f7fffffu)), 0x7f80);  // FLT_MAX rounds to infinity
  EXPECT_EQ(float_to_bf16(NAN) & 0x7fc0, 0x7fc0);
  EXPECT_EQ(gguf::bf16_to_float(0xc040), -3.0f);
}

// --- the export ------------------------------------------------------------------------------

TEST(GgufExport, TinyQwen3MetadataTokenizerAndTensorsMatchTheSources) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  const auto dir = test::shared_path("fixtures/tiny-qwen3");
  const auto path = test::scratch_dir() / "tiny-qwen3.gguf";
  auto summary = export_gguf(dir, path);
  EXPECT_EQ(summary.architecture, "qwen3");
  EXPECT_EQ(summary.pre_tokenizer, "qwen2");
  auto p = parse_gguf(path);

  EXPECT_EQ(p.at("general.architecture").text, "qwen3");
  EXPECT_EQ(p.at("general.name").text, "tiny-qwen3");
  EXPECT_EQ(p.at("general.file_type").unsigned_value, 0u);
  EXPECT_EQ(p.at("qwen3.context_length").unsigned_value, 4096u);
  EXPECT_EQ(p.at("qwen3.embedding_length").unsigned_value, 64u);
  EXPECT_EQ(p.at("qwen3.block_count").unsigned_value, 2u);
  EXPECT_EQ(p.at("qwen3.feed_forward_length").unsigned_value, 128u);
  EXPECT_EQ(p.at("qwen3.attention.head_count").unsigned_value, 4u);
  EXPECT_EQ(p.at("qwen3.attention.head_count_kv").unsigned_value, 2u);
  EXPECT_EQ(p.at("qwen3.attention.key_length").unsigned_value, 32u);  // not 64 / 4
  EXPECT_EQ(p.at("qwen3.attention.value_length").unsigned_value, 32u);
  EXPECT_EQ(p.at("qwen3.rope.freq_base").float_value, 1e6);
  EXPECT_FLOAT_EQ(static_cast<float>(p.at("qwen3.attention.layer_norm_rms_epsilon").float_value), 1e-6f);
  EXPECT_EQ(p.at("qwen3.vocab_size").unsigned_value, 151936u);

  // Tokenizer: every id of the 151936-row embedding has a token; the table agrees with tokenizer.json.
  const auto tokenizer = read_json_file(dir / "tokenizer.json");
  const auto& tokens = p.at("tokenizer.ggml.tokens").texts;
  const auto& types = p.at("tokenizer.ggml.token_type").integers;
  EXPECT_EQ(p.at("tokenizer.ggml.model").text, "gpt2");
  EXPECT_EQ(p.at("tokenizer.ggml.pre").text, "qwen2");
  ASSERT_EQ(tokens.size(), 151936u);
  ASSERT_EQ(types.size(), 151936u);
  EXPECT_EQ(p.at("tokenizer.ggml.token_type").element_type, 5u);  // int32, as gguf-py writes it
  for (auto it = tokenizer["model"]["vocab"].begin(); it != tokenizer["model"]["vocab"].end(); ++it) {
    auto id = it.value().get<std::size_t>();
    ASSERT_EQ(tokens[id], it.key()) << id;
    ASSERT_EQ(types[id], 1) << id;
  }
  EXPECT_EQ(tokens[151644], "<|im_start|>");
  EXPECT_EQ(types[151644], 3);  // control
  EXPECT_EQ(tokens[151667], "<think>");
  EXPECT_EQ(types[151667], 4);  // user-defined: an added token not marked special
  EXPECT_EQ(tokens[151935], "[PAD151935]");
  EXPECT_EQ(types[151935], 5);  // unused
  const auto& merges = p.at("tokenizer.ggml.merges").texts;
  const auto& source_merges = tokenizer["model"]["merges"];
  ASSERT_EQ(merges.size(), source_merges.size());
  for (std::size_t i = 0; i < merges.size(); i += 997)
    EXPECT_EQ(merges[i], source_merges[i][0].get<std::string>() + " " + source_merges[i][1].get<std::string>()) << i;
  EXPECT_EQ(p.at("tokenizer.ggml.bos_token_id").unsigned_value, 151643u);  // config.json (tokenizer_config: null)
  EXPECT_EQ(p.at("tokenizer.ggml.eos_token_id").unsigned_value, 151645u);  // <|im_end|>
  EXPECT_EQ(p.at("tokenizer.ggml.padding_token_id").unsigned_value, 151643u);
  EXPECT_EQ(p.at("tokenizer.ggml.add_bos_token").unsigned_value, 0u);
  EXPECT_EQ(p.at("tokenizer.chat_template").text,
            read_json_file(dir / "tokenizer_config.json")["chat_template"].get<std::string>());

  // Tensors: llama.cpp's names, tied (no output.weight), F32 bytes identical to the checkpoint's.
  auto weights = st::SafetensorsFile(dir / "model.safetensors");
  EXPECT_EQ(p.tensors.size(), 1u + 2 * 11 + 1);
  EXPECT_FALSE(p.tensors.count("output.weight"));
  EXPECT_EQ(p.tensors.at("token_embd.weight").dims, (std::vector<std::int64_t>{64, 151936}));
  EXPECT_EQ(p.tensors.at("blk.1.attn_q.weight").dims, (std::vector<std::int64_t>{64, 128}));
  EXPECT_EQ(p.tensors.at("blk.1.attn_output.weight").dims, (std::vector<std::int64_t>{128, 64}));
  const std::map<std::string, std::string> pairs = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"},
      {"model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight"},
      {"model.layers.0.self_attn.k_proj.weight", "blk.0.attn_k.weight"},
      {"model.layers.1.self_attn.v_proj.weight", "blk.1.attn_v.weight"},
      {"model.layers.1.self_attn.o_proj.weight", "blk.1.attn_output.weight"},
      {"model.layers.1.self_attn.q_norm.weight", "blk.1.attn_q_norm.weight"},
      {"model.layers.1.self_attn.k_norm.weight", "blk.1.attn_k_norm.weight"},
      {"model.layers.1.post_attention_layernorm.weight", "blk.1.ffn_norm.weight"},
      {"model.layers.1.mlp.gate_proj.weight", "blk.1.ffn_gate.weight"},
      {"model.layers.1.mlp.up_proj.weight", "blk.1.ffn_up.weight"},
      {"model.layers.1.mlp.down_proj.weight", "blk.1.ffn_down.weight"},
      {"model.norm.weight", "output_norm.weight"}};
  for (const auto& [hf, name] : pairs) {
    const auto& view = weights.get(hf);
    ASSERT_TRUE(p.tensors.count(name)) << name;
    EXPECT_EQ(p.tensors.at(name).type, 0u) << name;
    EXPECT_EQ(p.data_of(name, view.nbytes), bytes_of(view)) << name;
  }
}

TEST(GgufExport, Bf16ExportKeepsNormsF32AndRoundsMatrices) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  const auto dir = test::shared_path("fixtures/tiny-qwen3");
  const auto path = test::scratch_dir() / "tiny-qwen3-bf16.gguf";
  export_gguf(dir, path, {gguf::TensorType::BF16, "renamed"});
  auto p = parse_gguf(path);
  EXPECT_EQ(p.at("general.file_type").unsigned_value, 32u);
  EXPECT_EQ(p.at("general.name").text, "renamed");
  EXPECT_EQ(p.tensors.at("blk.0.attn_norm.weight").type, 0u);
  EXPECT_EQ(p.tensors.at("blk.0.attn_q_norm.weight").type, 0u);
  EXPECT_EQ(p.tensors.at("output_norm.weight").type, 0u);
  EXPECT_EQ(p.tensors.at("blk.0.ffn_up.weight").type, 30u);
  // The fixture's weights are bf16-exact (its README): bf16 is the upper half of each float.
  auto weights = st::SafetensorsFile(dir / "model.safetensors");
  const auto& view = weights.get("model.layers.0.mlp.up_proj.weight");
  auto data = p.data_of("blk.0.ffn_up.weight", view.nbytes / 2);
  for (std::size_t i = 0; i < static_cast<std::size_t>(view.numel()); ++i) {
    std::uint32_t f;
    std::uint16_t b;
    std::memcpy(&f, view.data + 4 * i, 4);
    std::memcpy(&b, data.data() + 2 * i, 2);
    ASSERT_EQ(b, f >> 16) << i;
  }
}

TEST(GgufExport, TinyQwen2HasBiasesAndAnUntiedHead) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen2/model.safetensors");
  const auto dir = test::shared_path("fixtures/tiny-qwen2");
  const auto path = test::scratch_dir() / "tiny-qwen2.gguf";
  export_gguf(dir, path, {gguf::TensorType::F16, ""});
  auto p = parse_gguf(path);
  EXPECT_EQ(p.at("general.architecture").text, "qwen2");
  EXPECT_EQ(p.at("qwen2.attention.key_length").unsigned_value, 16u);
  EXPECT_FALSE(p.tensors.count("blk.0.attn_q_norm.weight"));
  auto weights = st::SafetensorsFile(dir / "model.safetensors");
  for (const char* b : {"q", "k", "v"}) {
    auto name = std::string("blk.1.attn_") + b + ".bias";
    const auto& view = weights.get(std::string("model.layers.1.self_attn.") + b + "_proj.bias");
    ASSERT_TRUE(p.tensors.count(name)) << name;
    EXPECT_EQ(p.tensors.at(name).type, 0u);  // biases stay F32
    EXPECT_EQ(p.data_of(name, view.nbytes), bytes_of(view)) << name;
  }
  ASSERT_TRUE(p.tensors.count("output.weight"));
  EXPECT_EQ(p.tensors.at("output.weight").type, 1u);
  const auto& head = weights.get("lm_head.weight");
  auto data = p.data_of("output.weight", head.nbytes / 2);
  for (std::size_t i = 0; i < 1000; ++i) {
    float f;
    std::uint16_t h;
    std::memcpy(&f, head.data + 4 * i, 4);
    std::memcpy(&h, data.data() + 2 * i, 2);
    ASSERT_EQ(h, gguf::float_to_f16(f)) << i;
  }
}

namespace {

// A tiny Llama 3 folder: 1 layer, hidden 8, 2 query heads and 1 KV head of dim 4, llama3 rope
// scaling, and a byte-level tokenizer with Llama 3's split regex and BOS template.
fs::path write_tiny_llama(const fs::path& dir, bool extra_tensor = false, bool unknown_regex = false) {
  fs::create_directories(dir);
  Json config = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", 6},
                 {"hidden_size", 8}, {"intermediate_size", 16}, {"num_hidden_layers", 1},
                 {"num_attention_heads", 2}, {"num_key_value_heads", 1}, {"max_position_embeddings", 128},
                 {"rms_norm_eps", 1e-5}, {"rope_theta", 500000.0}, {"tie_word_embeddings", true},
                 {"bos_token_id", 4}, {"eos_token_id", 5},
                 {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                                   {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8}}}};
  write_file_atomic(dir / "config.json", config.dump());
  std::string regex = unknown_regex ? "\\s+|\\S+"
                                    : "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                                      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  Json tokenizer = {
      {"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}, {"\xC4\xA0", 3}}}, {"merges", {"a b"}}}},
      {"added_tokens", {{{"id", 4}, {"content", "<|begin_of_text|>"}, {"special", true}},
                        {{"id", 5}, {"content", "<|eot_id|>"}, {"special", true}}}},
      {"pre_tokenizer", {{"type", "Sequence"},
                         {"pretokenizers", {{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}},
                                            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}},
      {"post_processor", {{"type", "Sequence"}, {"processors", {{{"type", "ByteLevel"}},
          {{"type", "TemplateProcessing"}, {"single", {{{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}},
                                                      {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}}}}}}}};
  write_file_atomic(dir / "tokenizer.json", tokenizer.dump());
  write_file_atomic(dir / "tokenizer_config.json", Json({{"eos_token", "<|eot_id|>"}, {"chat_template", "{{ x }}"}}).dump());
  // Each weight holds its own flat index, so a permutation is visible in the bytes.
  std::vector<std::vector<float>> storage;
  std::vector<st::TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape) {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    storage.emplace_back(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) storage.back()[static_cast<std::size_t>(i)] = static_cast<float>(i);
    tensors.push_back({name, st::DType::F32, shape, storage.back().data(), static_cast<std::size_t>(n) * 4});
  };
  storage.reserve(16);
  add("model.embed_tokens.weight", {6, 8});
  add("model.layers.0.input_layernorm.weight", {8});
  add("model.layers.0.self_attn.q_proj.weight", {8, 8});
  add("model.layers.0.self_attn.k_proj.weight", {4, 8});
  add("model.layers.0.self_attn.v_proj.weight", {4, 8});
  add("model.layers.0.self_attn.o_proj.weight", {8, 8});
  add("model.layers.0.post_attention_layernorm.weight", {8});
  add("model.layers.0.mlp.gate_proj.weight", {16, 8});
  add("model.layers.0.mlp.up_proj.weight", {16, 8});
  add("model.layers.0.mlp.down_proj.weight", {8, 16});
  add("model.norm.weight", {8});
  if (extra_tensor) add("model.layers.0.self_attn.extra.weight", {2});
  st::write_safetensors(dir / "model.safetensors", tensors);
  return dir;
}

}  // namespace

TEST(GgufExport, LlamaPermutesQueryAndKeyRowsForInterleavedRope) {
  auto dir = write_tiny_llama(test::scratch_dir() / "tiny-llama");
  auto path = dir.parent_path() / "tiny-llama.gguf";
  auto summary = export_gguf(dir, path);
  EXPECT_EQ(summary.pre_tokenizer, "llama-bpe");
  auto p = parse_gguf(path);
  EXPECT_EQ(p.at("general.architecture").text, "llama");
  EXPECT_EQ(p.at("llama.rope.dimension_count").unsigned_value, 4u);
  EXPECT_EQ(p.at("tokenizer.ggml.pre").text, "llama-bpe");
  EXPECT_EQ(p.at("tokenizer.ggml.bos_token_id").unsigned_value, 4u);  // from the BOS template
  EXPECT_EQ(p.at("tokenizer.ggml.eos_token_id").unsigned_value, 5u);
  EXPECT_EQ(p.at("tokenizer.ggml.add_bos_token").unsigned_value, 1u);
  EXPECT_EQ(p.at("tokenizer.chat_template").text, "{{ x }}");
  EXPECT_EQ(p.at("tokenizer.ggml.merges").texts, (std::vector<std::string>{"a b"}));
  // q [8 rows = 2 heads x 4, 8 columns]: within a head, rows (0, 1, 2, 3) become (0, 2, 1, 3).
  auto q = p.data_of("blk.0.attn_q.weight", 8 * 8 * 4);
  const int expected_rows[8] = {0, 2, 1, 3, 4, 6, 5, 7};
  for (int r = 0; r < 8; ++r) {
    float first;
    std::memcpy(&first, q.data() + r * 8 * 4, 4);
    EXPECT_EQ(first, static_cast<float>(expected_rows[r] * 8)) << "row " << r;
  }
  auto k = p.data_of("blk.0.attn_k.weight", 4 * 8 * 4);
  float k_row1;
  std::memcpy(&k_row1, k.data() + 1 * 8 * 4, 4);
  EXPECT_EQ(k_row1, 2.0f * 8);
  // v is not rotated: unchanged.
  float v_row1;
  std::memcpy(&v_row1, p.data_of("blk.0.attn_v.weight", 128).data() + 32, 4);
  EXPECT_EQ(v_row1, 8.0f);
  // Llama 3 rope scaling: per-frequency divisors. head_dim 4, theta 5e5, original context 8: the
  // wavelengths are 2 pi (between 8 / 4 and 8 / 1: smoothed) and 2 pi sqrt(5e5) (beyond 8: the full factor).
  ASSERT_TRUE(p.tensors.count("rope_freqs.weight"));
  EXPECT_EQ(p.tensors.at("rope_freqs.weight").dims, (std::vector<std::int64_t>{2}));
  float factors[2];
  std::memcpy(factors, p.data_of("rope_freqs.weight", 8).data(), 8);
  const double smooth = (8 / (2 * M_PI) - 1.0) / (4.0 - 1.0);
  EXPECT_NEAR(factors[0], 1.0 / ((1 - smooth) / 8 + smooth), 1e-6);
  EXPECT_EQ(factors[1], 8.0f);
}

TEST(GgufExport, RefusesWhatLlamaCppWouldMisread) {
  auto root = test::scratch_dir();
  auto extra = write_tiny_llama(root / "extra", true);
  EXPECT_ERROR_CONTAINS(export_gguf(extra, root / "x.gguf"), "tensor 'model.layers.0.self_attn.extra.weight' has no place");
  auto regex = write_tiny_llama(root / "regex", false, true);
  EXPECT_ERROR_CONTAINS(export_gguf(regex, root / "x.gguf"), "tokenizer.json: the pre-tokenizer regex is neither");
  EXPECT_FALSE(fs::exists(root / "x.gguf"));
}

TEST(GgufExport, CommandLineWritesTheFileAndReportsBadInputInOneLine) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  auto out = test::scratch_dir() / "cli.gguf";
  auto ok = test::run_illume({"export", "--model", test::shared_path("fixtures/tiny-qwen3").string(), "--format",
                              "gguf", "--out", out.string()});
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_NE(ok.err.find("qwen3, F32"), std::string::npos) << ok.err;  // the checkpoint's dtype by default
  EXPECT_EQ(parse_gguf(out).at("general.architecture").text, "qwen3");
  auto missing = test::run_illume({"export", "--model", "/nonexistent/model", "--format", "gguf", "--out", out.string()});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("/nonexistent/model"), std::string::npos) << missing.err;
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
  auto format = test::run_illume({"export", "--model", "x", "--format", "onnx", "--out", out.string()});
  EXPECT_EQ(format.status, 1);
  EXPECT_NE(format.err.find("--format 'onnx' is not supported"), std::string::npos) << format.err;
  auto dtype = test::run_illume({"export", "--model", "x", "--format", "gguf", "--dtype", "q4", "--out", out.string()});
  EXPECT_EQ(dtype.status, 1);
  EXPECT_NE(dtype.err.find("--dtype: unknown dtype 'q4'"), std::string::npos) << dtype.err;
}

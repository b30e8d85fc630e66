#include "illume/io/gguf_export.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "illume/io/model_config.h"
#include "illume/io/safetensors.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

namespace illume {

namespace fs = std::filesystem;
using gguf::TensorType;

gguf::TensorType parse_gguf_dtype(const std::string& name, const std::string& source) {
  if (name == "f32") return TensorType::F32;
  if (name == "bf16") return TensorType::BF16;
  if (name == "f16") return TensorType::F16;
  fail("{}: unknown dtype '{}' (f32, bf16 or f16)", source, name);
}

gguf::TensorType checkpoint_gguf_dtype(const fs::path& model_dir) {
  auto config = ModelConfig::load(model_dir);
  if (config.torch_dtype == "bfloat16") return TensorType::BF16;
  if (config.torch_dtype == "float16") return TensorType::F16;
  return TensorType::F32;
}

namespace {

// ---------------------------------------------------------------------------------------------
// Tokenizer metadata (convert_hf_to_gguf.py: get_vocab_base, and gguf-py's SpecialVocab).

// gguf-py TokenType.
enum TokenKind : std::int32_t { kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5 };

// The pre-tokenizer split regexes of Qwen2/Qwen3 and of Llama 3, as their tokenizer.json files spell
// them. llama.cpp does not run the file's regex: it picks its own splitter by the name in
// tokenizer.ggml.pre, so a tokenizer whose regex is neither would be split differently there.
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Added tokens that llama.cpp's converter treats as control tokens even when not marked special.
bool looks_special(const std::string& token) {
  auto starts = [&](std::string_view s) { return token.rfind(s, 0) == 0; };
  auto ends = [&](std::string_view s) {
    return token.size() >= s.size() && token.compare(token.size() - s.size(), s.size(), s) == 0;
  };
  if (token == "<pad>" || token == "<mask>" || token == "<2mass>" || token == "[@BOS@]") return true;
  if (starts("<|") && ends("|>")) return true;
  if (starts("<\xEF\xBD\x9C") && ends("\xEF\xBD\x9C>")) return true;  // fullwidth bars (deepseek)
  return starts("<unused") && ends(">");
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

void collect_split_regexes(const Json& pre_tokenizer, std::vector<std::string>& out) {
  if (!pre_tokenizer.is_object()) return;
  auto type = pre_tokenizer.value("type", std::string());
  if (type == "Sequence" && pre_tokenizer.contains("pretokenizers") && pre_tokenizer["pretokenizers"].is_array()) {
    for (const auto& p : pre_tokenizer["pretokenizers"]) collect_split_regexes(p, out);
  } else if (type == "Split" && pre_tokenizer.contains("pattern") && pre_tokenizer["pattern"].is_object() &&
             pre_tokenizer["pattern"].contains("Regex") && pre_tokenizer["pattern"]["Regex"].is_string()) {
    out.push_back(pre_tokenizer["pattern"]["Regex"].get<std::string>());
  }
}

std::optional<std::string> token_content(const Json& entry) {
  if (entry.is_string()) return entry.get<std::string>();
  if (entry.is_object() && entry.contains("content") && entry["content"].is_string())
    return entry["content"].get<std::string>();
  return std::nullopt;
}

struct AddedToken {
  std::int64_t id = 0;
  std::string content;
  bool special = false;
};

void add_tokenizer_metadata(gguf::Metadata& metadata, const fs::path& model_dir, const ModelConfig& config,
                            std::string& pre_out) {
  const auto tokenizer_path = model_dir / "tokenizer.json";
  const std::string source = tokenizer_path.string();
  if (!fs::exists(tokenizer_path)) fail("{}: missing (GGUF export needs the tokenizer)", source);
  const Json tokenizer = read_json_file(tokenizer_path);
  check(tokenizer.is_object() && tokenizer.contains("model") && tokenizer["model"].is_object(),
        "{}: no 'model' object", source);
  const Json& model = tokenizer["model"];
  check(model.value("type", std::string()) == "BPE", "{}: model type '{}' is not BPE (only byte-level BPE exports)",
        source, model.value("type", std::string("?")));
  check(model.contains("vocab") && model["vocab"].is_object(), "{}: model.vocab is not an object", source);

  // Pre-tokenizer name (llama.cpp: tokenizer.ggml.pre).
  std::vector<std::string> regexes;
  if (tokenizer.contains("pre_tokenizer")) collect_split_regexes(tokenizer["pre_tokenizer"], regexes);
  check(regexes.size() == 1, "{}: expected one Split regex in pre_tokenizer, found {}", source, regexes.size());
  if (regexes[0] == kQwen2Regex) pre_out = "qwen2";
  else if (regexes[0] == kLlama3Regex) pre_out = "llama-bpe";
  else
    fail("{}: the pre-tokenizer regex is neither Qwen2's nor Llama 3's; llama.cpp would split text differently "
         "(regex: {})", source, json_excerpt(Json(regexes[0]), 80));

  // Tokens and their types, one per id below vocab_size; holes are "[PAD<id>]" (unused).
  const auto vocab_size = config.vocab_size;
  std::vector<std::string> tokens(static_cast<std::size_t>(vocab_size));
  std::vector<std::int32_t> types(static_cast<std::size_t>(vocab_size), kUnused);
  std::vector<bool> filled(static_cast<std::size_t>(vocab_size), false);
  auto place = [&](std::int64_t id, const std::string& text, std::int32_t kind) {
    check(id >= 0 && id < vocab_size, "{}: token id {} ('{}') is outside the model's vocab_size {}", source, id,
          json_excerpt(Json(text), 40), vocab_size);
    auto i = static_cast<std::size_t>(id);
    tokens[i] = text;
    types[i] = kind;
    filled[i] = true;
  };
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    check(it.value().is_number_integer(), "{}: vocab entry '{}' has a non-integer id", source,
          json_excerpt(Json(it.key()), 40));
    place(it.value().get<std::int64_t>(), it.key(), kNormal);
  }
  std::vector<AddedToken> added;
  if (tokenizer.contains("added_tokens") && tokenizer["added_tokens"].is_array()) {
    for (const auto& a : tokenizer["added_tokens"]) {
      check(a.is_object() && a.contains("id") && a["id"].is_number_integer() && a.contains("content") &&
                a["content"].is_string(),
            "{}: an added_tokens entry lacks an integer id or a string content", source);
      AddedToken t{a["id"].get<std::int64_t>(), a["content"].get<std::string>(), a.value("special", false)};
      added.push_back(t);
      if (t.special || looks_special(t.content)) place(t.id, t.content, kControl);
      else place(t.id, replace_all(t.content, "\xE2\x96\x81", " "), kUserDefined);  // pre-normalised spaces
    }
  }
  for (std::size_t i = 0; i < tokens.size(); ++i)
    if (!filled[i]) tokens[i] = "[PAD" + std::to_string(i) + "]";

  // Merges as "left right"; a space inside a part is written as U+0120 (gguf-py's encoding).
  std::vector<std::string> merges;
  if (model.contains("merges") && model["merges"].is_array()) {
    for (const auto& m : model["merges"]) {
      if (m.is_string()) {
        merges.push_back(m.get<std::string>());
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.push_back(replace_all(m[0].get<std::string>(), " ", "\xC4\xA0") + " " +
                         replace_all(m[1].get<std::string>(), " ", "\xC4\xA0"));
      } else {
        fail("{}: a merges entry is neither \"a b\" nor [\"a\", \"b\"]", source);
      }
    }
  }
  check(!merges.empty(), "{}: no merges (a BPE tokenizer without merges would not work in llama.cpp)", source);

  metadata.add_string("tokenizer.ggml.model", "gpt2");
  metadata.add_string("tokenizer.ggml.pre", pre_out);
  metadata.add_string_array("tokenizer.ggml.tokens", tokens);
  metadata.add_int32_array("tokenizer.ggml.token_type", types);
  metadata.add_string_array("tokenizer.ggml.merges", merges);

  // Special tokens: tokenizer_config.json's bos/eos/unk/sep/pad tokens by content, then config.json's
  // *_token_id for the ones still unset (gguf-py SpecialVocab).
  Json tokenizer_config = Json::object();
  const auto tokenizer_config_path = model_dir / "tokenizer_config.json";
  if (fs::exists(tokenizer_config_path)) tokenizer_config = read_json_file(tokenizer_config_path);
  if (!tokenizer_config.is_object()) fail("{}: not a JSON object", tokenizer_config_path.string());
  const Json raw_config = read_json_file(model_dir / "config.json");
  auto added_id = [&](const std::string& content) -> std::optional<std::int64_t> {
    for (const auto& a : added)
      if (a.content == content) return a.id;
    return std::nullopt;
  };
  struct Special {
    const char* type;
    const char* key;
  };
  const Special specials[] = {{"bos", "tokenizer.ggml.bos_token_id"},
                              {"eos", "tokenizer.ggml.eos_token_id"},
                              {"unk", "tokenizer.ggml.unknown_token_id"},
                              {"sep", "tokenizer.ggml.seperator_token_id"},  // sic: gguf's key
                              {"pad", "tokenizer.ggml.padding_token_id"}};
  std::map<std::string, std::int64_t> special_ids;
  std::map<std::string, std::string> special_contents;
  for (const auto& s : specials) {
    auto entry = tokenizer_config.find(std::string(s.type) + "_token");
    if (entry == tokenizer_config.end()) continue;
    if (auto content = token_content(*entry)) {
      special_contents[s.type] = *content;
      if (auto id = added_id(*content)) special_ids[s.type] = *id;
    }
  }
  // Llama 3 states its BOS only in the post-processor template; it also says whether BOS/EOS are added.
  std::map<std::string, bool> add_special;
  if (tokenizer.contains("post_processor") && tokenizer["post_processor"].is_object()) {
    const Json& post = tokenizer["post_processor"];
    std::vector<Json> processors;
    if (post.contains("processors") && post["processors"].is_array())
      for (const auto& p : post["processors"]) processors.push_back(p);
    else
      processors.push_back(post);
    for (const auto& p : processors) {
      if (!p.is_object() || p.value("type", std::string()) != "TemplateProcessing") continue;
      if (!p.contains("single") || !p["single"].is_array() || p["single"].size() < 2) continue;
      auto special_of = [](const Json& piece) -> std::optional<std::string> {
        if (piece.is_object() && piece.contains("SpecialToken") && piece["SpecialToken"].is_object() &&
            piece["SpecialToken"].contains("id") && piece["SpecialToken"]["id"].is_string())
          return piece["SpecialToken"]["id"].get<std::string>();
        return std::nullopt;
      };
      if (auto first = special_of(p["single"].front())) {
        if (!special_contents.count("bos")) {
          special_contents["bos"] = *first;
          if (auto id = added_id(*first)) special_ids.emplace("bos", *id);
        }
        add_special["bos"] = special_contents["bos"] == *first;
      }
      if (auto last = special_of(p["single"].back())) add_special["eos"] = special_contents.count("eos") && special_contents["eos"] == *last;
    }
  }
  for (const auto& s : specials) {
    if (special_ids.count(s.type)) continue;
    auto entry = raw_config.find(std::string(s.type) + "_token_id");
    if (entry != raw_config.end() && entry->is_number_integer()) special_ids[s.type] = entry->get<std::int64_t>();
  }
  for (const auto& s : specials) {
    auto it = special_ids.find(s.type);
    if (it == special_ids.end()) continue;
    check(it->second >= 0 && it->second < vocab_size, "{}: {} token id {} is outside vocab_size {}",
          model_dir.string(), s.type, it->second, vocab_size);
    metadata.add_uint32(s.key, static_cast<std::uint32_t>(it->second));
  }
  for (const char* type : {"bos", "eos"}) {
    auto entry = tokenizer_config.find(std::string("add_") + type + "_token");
    if (entry != tokenizer_config.end() && entry->is_boolean()) add_special[type] = entry->get<bool>();
  }
  for (const auto& [type, value] : add_special) metadata.add_bool("tokenizer.ggml.add_" + type + "_token", value);
  if (config.architecture == Architecture::Llama) {
    auto entry = tokenizer_config.find("add_prefix_space");
    if (entry != tokenizer_config.end() && entry->is_boolean())
      metadata.add_bool("tokenizer.ggml.add_space_prefix", entry->get<bool>());
  }

  // Chat template: tokenizer_config.json's, else chat_template.jinja, else chat_template.json's.
  Json template_value;
  if (tokenizer_config.contains("chat_template")) {
    template_value = tokenizer_config["chat_template"];
  } else if (fs::exists(model_dir / "chat_template.jinja")) {
    template_value = read_file(model_dir / "chat_template.jinja");
  } else if (fs::exists(model_dir / "chat_template.json")) {
    auto j = read_json_file(model_dir / "chat_template.json");
    if (j.is_object() && j.contains("chat_template")) template_value = j["chat_template"];
  }
  if (template_value.is_string()) {
    metadata.add_string("tokenizer.chat_template", template_value.get<std::string>());
  } else if (template_value.is_array()) {
    // [{"name": ..., "template": ...}]: "default" is the main one, the others are named.
    std::vector<std::string> names;
    for (const auto& t : template_value) {
      if (!t.is_object() || !t.contains("name") || !t["name"].is_string() || !t.contains("template") ||
          !t["template"].is_string())
        continue;
      auto name = t["name"].get<std::string>();
      if (name == "default") {
        metadata.add_string("tokenizer.chat_template", t["template"].get<std::string>());
      } else {
        metadata.add_string("tokenizer.chat_template." + name, t["template"].get<std::string>());
        names.push_back(name);
      }
    }
    if (!names.empty()) metadata.add_string_array("tokenizer.chat_templates", names);
  }
}

// ---------------------------------------------------------------------------------------------
// Tensors.

float load_element(const st::TensorView& view, std::size_t index) {
  switch (view.dtype) {
    case st::DType::F32: {
      float v;
      std::memcpy(&v, view.data + index * 4, 4);
      return v;
    }
    case st::DType::BF16: {
      std::uint16_t b;
      std::memcpy(&b, view.data + index * 2, 2);
      return gguf::bf16_to_float(b);
    }
    case st::DType::F16: {
      std::uint16_t b;
      std::memcpy(&b, view.data + index * 2, 2);
      return gguf::f16_to_float(b);
    }
    default: break;
  }
  return 0.0f;  // unreachable: dtypes are checked before writing
}

bool same_type(st::DType source, TensorType target) {
  return (source == st::DType::F32 && target == TensorType::F32) ||
         (source == st::DType::BF16 && target == TensorType::BF16) ||
         (source == st::DType::F16 && target == TensorType::F16);
}

// Copies (converting) rows of `view` into `out` in type `target`; out row r is source row
// row_source[r] (identity when empty).
void convert_rows(const st::TensorView& view, TensorType target, const std::vector<std::int64_t>& row_source,
                  std::uint8_t* out) {
  const std::size_t rows = view.shape.empty() ? 1 : static_cast<std::size_t>(view.shape[0]);
  const std::size_t columns = rows ? static_cast<std::size_t>(view.numel()) / rows : 0;
  const std::size_t source_row_bytes = columns * st::dtype_size(view.dtype);
  const std::size_t target_size = gguf::tensor_type_size(target);
  for (std::size_t r = 0; r < rows; ++r) {
    const std::size_t from = row_source.empty() ? r : static_cast<std::size_t>(row_source[r]);
    std::uint8_t* destination = out + r * columns * target_size;
    if (same_type(view.dtype, target)) {
      std::memcpy(destination, view.data + from * source_row_bytes, source_row_bytes);
      continue;
    }
    for (std::size_t c = 0; c < columns; ++c) {
      const float v = load_element(view, from * columns + c);
      if (target == TensorType::F32) {
        std::memcpy(destination + c * 4, &v, 4);
      } else {
        const std::uint16_t h = target == TensorType::BF16 ? gguf::float_to_bf16(v) : gguf::float_to_f16(v);
        std::memcpy(destination + c * 2, &h, 2);
      }
    }
  }
}

// Llama's q/k rows: Hugging Face orders each head's rows as [first halves of the rotated pairs, second
// halves] (rotate-half); llama.cpp's LLAMA rope rotates adjacent rows (2i, 2i+1). Out row (h, i, j)
// takes source row (h, j, i) for i < head_dim/2, j in {0, 1} (convert_hf_to_gguf's LlamaModel.permute).
std::vector<std::int64_t> rope_pair_rows(std::int64_t heads, std::int64_t head_dim) {
  std::vector<std::int64_t> rows(static_cast<std::size_t>(heads * head_dim));
  const std::int64_t half = head_dim / 2;
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t i = 0; i < half; ++i)
      for (std::int64_t j = 0; j < 2; ++j) rows[static_cast<std::size_t>(h * head_dim + 2 * i + j)] = h * head_dim + j * half + i;
  return rows;
}

// Llama 3 rope scaling as llama.cpp applies it: a per-frequency divisor tensor, rope_freqs [head_dim/2]
// (convert_hf_to_gguf's LlamaModel.generate_extra_tensors).
std::vector<float> llama3_rope_factors(const ModelConfig& config) {
  const auto& s = config.rope_scaling;
  const double low_wavelength = s.original_max_position_embeddings / s.low_freq_factor;
  const double high_wavelength = s.original_max_position_embeddings / s.high_freq_factor;
  std::vector<float> factors;
  for (std::int64_t i = 0; i < config.head_dim; i += 2) {
    const float frequency = static_cast<float>(1.0 / std::pow(config.rope_theta, double(i) / double(config.head_dim)));
    const double wavelength = 2 * M_PI / frequency;
    if (wavelength < high_wavelength) {
      factors.push_back(1.0f);
    } else if (wavelength > low_wavelength) {
      factors.push_back(static_cast<float>(s.factor));
    } else {
      const double smooth = (s.original_max_position_embeddings / wavelength - s.low_freq_factor) /
                            (s.high_freq_factor - s.low_freq_factor);
      factors.push_back(static_cast<float>(1.0 / ((1 - smooth) / s.factor + smooth)));
    }
  }
  return factors;
}

struct PlannedTensor {
  PlannedTensor(std::string hf, std::string gguf_name_, std::vector<std::int64_t> shape_, bool f32 = false)
      : hf_name(std::move(hf)), gguf_name(std::move(gguf_name_)), shape(std::move(shape_)), keep_f32(f32) {}
  std::string hf_name;
  std::string gguf_name;
  std::vector<std::int64_t> shape;       // expected Hugging Face shape
  bool keep_f32 = false;                 // norms and biases
  std::vector<std::int64_t> row_source;  // Llama q/k permutation (empty: rows in order)
};

std::vector<PlannedTensor> plan_tensors(const ModelConfig& c) {
  const auto D = c.hidden_size, V = c.vocab_size, I = c.intermediate_size, hd = c.head_dim;
  const auto q_rows = c.num_heads * hd, kv_rows = c.num_kv_heads * hd;
  const bool llama = c.architecture == Architecture::Llama;
  std::vector<PlannedTensor> plan;
  plan.push_back(PlannedTensor("model.embed_tokens.weight", "token_embd.weight", {V, D}));
  for (std::int64_t l = 0; l < c.num_layers; ++l) {
    const std::string hf = "model.layers." + std::to_string(l) + ".";
    const std::string blk = "blk." + std::to_string(l) + ".";
    plan.push_back(PlannedTensor(hf + "input_layernorm.weight", blk + "attn_norm.weight", {D}, true));
    auto q = PlannedTensor{hf + "self_attn.q_proj.weight", blk + "attn_q.weight", {q_rows, D}};
    auto k = PlannedTensor{hf + "self_attn.k_proj.weight", blk + "attn_k.weight", {kv_rows, D}};
    if (llama) {
      q.row_source = rope_pair_rows(c.num_heads, hd);
      k.row_source = rope_pair_rows(c.num_kv_heads, hd);
    }
    plan.push_back(q);
    plan.push_back(k);
    plan.push_back(PlannedTensor(hf + "self_attn.v_proj.weight", blk + "attn_v.weight", {kv_rows, D}));
    if (c.attention_bias) {
      auto qb = PlannedTensor{hf + "self_attn.q_proj.bias", blk + "attn_q.bias", {q_rows}, true};
      auto kb = PlannedTensor{hf + "self_attn.k_proj.bias", blk + "attn_k.bias", {kv_rows}, true};
      if (llama) {
        qb.row_source = rope_pair_rows(c.num_heads, hd);
        kb.row_source = rope_pair_rows(c.num_kv_heads, hd);
      }
      plan.push_back(qb);
      plan.push_back(kb);
      plan.push_back(PlannedTensor(hf + "self_attn.v_proj.bias", blk + "attn_v.bias", {kv_rows}, true));
    }
    plan.push_back(PlannedTensor(hf + "self_attn.o_proj.weight", blk + "attn_output.weight", {D, q_rows}));
    if (c.qk_norm) {
      plan.push_back(PlannedTensor(hf + "self_attn.q_norm.weight", blk + "attn_q_norm.weight", {hd}, true));
      plan.push_back(PlannedTensor(hf + "self_attn.k_norm.weight", blk + "attn_k_norm.weight", {hd}, true));
    }
    plan.push_back(PlannedTensor(hf + "post_attention_layernorm.weight", blk + "ffn_norm.weight", {D}, true));
    plan.push_back(PlannedTensor(hf + "mlp.gate_proj.weight", blk + "ffn_gate.weight", {I, D}));
    plan.push_back(PlannedTensor(hf + "mlp.up_proj.weight", blk + "ffn_up.weight", {I, D}));
    plan.push_back(PlannedTensor(hf + "mlp.down_proj.weight", blk + "ffn_down.weight", {D, I}));
  }
  plan.push_back(PlannedTensor("model.norm.weight", "output_norm.weight", {D}, true));
  if (!c.tie_word_embeddings) plan.push_back(PlannedTensor("lm_head.weight", "output.weight", {V, D}));
  return plan;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string folder_name(const fs::path& dir) {
  auto normal = dir.lexically_normal();
  if (normal.filename().empty()) normal = normal.parent_path();
  auto name = normal.filename().string();
  return name.empty() || name == "." ? fs::absolute(dir).lexically_normal().filename().string() : name;
}

}  // namespace

GgufExportSummary export_gguf(const fs::path& model_dir, const fs::path& out, const GgufExportOptions& options) {
  const auto config = ModelConfig::load(model_dir);
  const std::string arch = architecture_name(config.architecture);
  check(config.head_dim % 2 == 0, "{}: head_dim {} is odd (rope needs pairs)", (model_dir / "config.json").string(),
        config.head_dim);
  auto weights = st::WeightSet::open_dir(model_dir);

  GgufExportSummary summary;
  summary.architecture = arch;
  gguf::Metadata metadata;
  metadata.add_string("general.architecture", arch);
  metadata.add_string("general.type", "model");
  metadata.add_string("general.name", options.name.empty() ? folder_name(model_dir) : options.name);
  // llama_ftype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_BF16 32 (1-D tensors stay F32 in all of them).
  const std::uint32_t file_type = options.dtype == TensorType::F32 ? 0 : options.dtype == TensorType::F16 ? 1 : 32;
  metadata.add_uint32("general.file_type", file_type);
  metadata.add_uint32("general.quantization_version", 2);

  const std::string a = arch + ".";
  metadata.add_uint32(a + "vocab_size", static_cast<std::uint32_t>(config.vocab_size));
  metadata.add_uint32(a + "context_length", static_cast<std::uint32_t>(config.max_position_embeddings));
  metadata.add_uint32(a + "embedding_length", static_cast<std::uint32_t>(config.hidden_size));
  metadata.add_uint32(a + "block_count", static_cast<std::uint32_t>(config.num_layers));
  metadata.add_uint32(a + "feed_forward_length", static_cast<std::uint32_t>(config.intermediate_size));
  metadata.add_uint32(a + "attention.head_count", static_cast<std::uint32_t>(config.num_heads));
  metadata.add_uint32(a + "attention.head_count_kv", static_cast<std::uint32_t>(config.num_kv_heads));
  // Always written: Qwen3's head_dim is not hidden/heads, and for the others it states the default.
  metadata.add_uint32(a + "attention.key_length", static_cast<std::uint32_t>(config.head_dim));
  metadata.add_uint32(a + "attention.value_length", static_cast<std::uint32_t>(config.head_dim));
  metadata.add_float32(a + "rope.freq_base", static_cast<float>(config.rope_theta));
  metadata.add_float32(a + "attention.layer_norm_rms_epsilon", static_cast<float>(config.rms_norm_eps));
  if (config.architecture == Architecture::Llama)
    metadata.add_uint32(a + "rope.dimension_count", static_cast<std::uint32_t>(config.head_dim));

  add_tokenizer_metadata(metadata, model_dir, config, summary.pre_tokenizer);

  // Tensors: every checkpoint tensor must have a place (else config.json describes another model).
  auto plan = plan_tensors(config);
  std::set<std::string> planned;
  for (const auto& p : plan) planned.insert(p.hf_name);
  for (const auto& name : weights.names()) {
    if (planned.count(name)) continue;
    if (name.ends_with("rotary_emb.inv_freq")) continue;  // recomputed from rope_theta
    if (name == "lm_head.weight" && config.tie_word_embeddings) continue;  // tied: the embedding is the head
    fail("{}: tensor '{}' has no place in a {} GGUF (is config.json for another model?)", weights.source_of(name),
         name, arch);
  }
  std::vector<gguf::TensorToWrite> tensors;
  for (const auto& p : plan) {
    const auto& view = weights.get(p.hf_name);
    check(view.shape == p.shape, "{}: tensor '{}' has shape {}, config.json implies {}", weights.source_of(p.hf_name),
          p.hf_name, shape_text(view.shape), shape_text(p.shape));
    check(view.dtype == st::DType::F32 || view.dtype == st::DType::BF16 || view.dtype == st::DType::F16,
          "{}: tensor '{}' is {}; GGUF export reads F32, BF16 and F16", weights.source_of(p.hf_name), p.hf_name,
          st::dtype_name(view.dtype));
    gguf::TensorToWrite t;
    t.name = p.gguf_name;
    t.type = p.keep_f32 ? TensorType::F32 : options.dtype;
    t.shape = p.shape;
    t.fill = [view, type = t.type, rows = p.row_source](std::uint8_t* destination) {
      convert_rows(view, type, rows, destination);
    };
    tensors.push_back(std::move(t));
  }
  if (config.architecture == Architecture::Llama && config.rope_scaling.type == "llama3") {
    auto factors = llama3_rope_factors(config);
    gguf::TensorToWrite t;
    t.name = "rope_freqs.weight";
    t.type = TensorType::F32;
    t.shape = {static_cast<std::int64_t>(factors.size())};
    t.fill = [factors](std::uint8_t* destination) {
      std::memcpy(destination, factors.data(), factors.size() * sizeof(float));
    };
    tensors.push_back(std::move(t));
  }
  gguf::write_gguf(out, metadata, tensors);
  summary.tensors = tensors.size();
  summary.metadata_keys = metadata.size() + 1;  // + general.alignment
  summary.bytes = fs::file_size(out);
  return summary;
}

}  // namespace illume

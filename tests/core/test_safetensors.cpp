// safetensors reader/writer (torch-free): round trips, the exact bytes we write, the fixtures, and
// every kind of broken file we could think of. Also built under ASan+UBSan (illume_core_tests_asan).
#include <cstring>
#include <fstream>
#include <optional>
#include <random>

#include "common.h"
#include "illume/io/safetensors.h"
#include "illume/util/error.h"
#include "illume/util/file.h"
#include "illume/util/json.h"

using namespace illume;
using illume::test::error_of;
using namespace illume::st;
namespace fs = std::filesystem;

namespace {

std::string le64(std::uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out;
}

// Writes bytes as they are (no fsync: these are scratch files, many of them).
void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// A file made of a header text and a data section, with the correct header length.
fs::path craft(const fs::path& dir, const std::string& header, const std::string& data = "",
               const std::string& name = "x.safetensors") {
  auto path = dir / name;
  write_bytes(path, le64(header.size()) + header + data);
  return path;
}

// Opening PATH fails with a one-line message naming PATH and containing `problem`.
void expect_open_fails(const fs::path& path, const std::string& problem) {
  std::string message = error_of([&] { SafetensorsFile file(path); });
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find(problem), std::string::npos) << "wanted '" << problem << "' in: " << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

void expect_dir_fails(const fs::path& dir, const std::string& names, const std::string& problem) {
  std::string message = error_of([&] { WeightSet::open_dir(dir); });
  EXPECT_NE(message.find(names), std::string::npos) << "wanted path '" << names << "' in: " << message;
  EXPECT_NE(message.find(problem), std::string::npos) << "wanted '" << problem << "' in: " << message;
}

std::string bytes_of(const TensorView& view) { return std::string(reinterpret_cast<const char*>(view.data), view.nbytes); }

}  // namespace

// --- dtypes -------------------------------------------------------------------------------------------

TEST(Safetensors, DtypeNamesSizesAndParsing) {
  const std::vector<std::pair<DType, std::size_t>> all = {
      {DType::F64, 8}, {DType::F32, 4}, {DType::F16, 2}, {DType::BF16, 2}, {DType::I64, 8},
      {DType::I32, 4}, {DType::I16, 2}, {DType::I8, 1},  {DType::U8, 1},   {DType::BOOL, 1}};
  for (auto [dtype, size] : all) {
    EXPECT_EQ(dtype_size(dtype), size) << dtype_name(dtype);
    EXPECT_EQ(parse_dtype(dtype_name(dtype), "src"), dtype);
  }
  EXPECT_STREQ(dtype_name(DType::BF16), "BF16");
  EXPECT_STREQ(dtype_name(DType::BOOL), "BOOL");
  std::string message = error_of([] { parse_dtype("F8_E4M3", "a.safetensors: tensor 'w'"); });
  EXPECT_NE(message.find("a.safetensors: tensor 'w': unknown dtype 'F8_E4M3'"), std::string::npos) << message;
  EXPECT_THROW(parse_dtype("f32", "src"), Error);  // names are case-sensitive, as in the format
}

TEST(Safetensors, NumelOfScalarEmptyAndOverflow) {
  TensorView v{"t", DType::F32, {}, nullptr, 4};
  EXPECT_EQ(v.numel(), 1);
  v.shape = {3, 0, 5};
  EXPECT_EQ(v.numel(), 0);
  v.shape = {1 << 20, 1 << 20, 1 << 20, 1 << 20};
  EXPECT_THROW(v.numel(), Error);
}

// --- writing and reading back -------------------------------------------------------------------------

TEST(Safetensors, RoundTripEveryDtypeAndMetadata) {
  auto dir = test::scratch_dir();
  auto path = dir / "all.safetensors";
  // Distinct, recognisable bytes per tensor; odd byte counts included so later tensors are misaligned.
  std::vector<std::string> buffers;
  std::vector<TensorToWrite> tensors;
  const std::vector<std::pair<DType, std::vector<std::int64_t>>> specs = {
      {DType::BF16, {3}},  {DType::F64, {2, 2}}, {DType::F32, {2, 3}}, {DType::F16, {5}},  {DType::I64, {3}},
      {DType::I32, {1, 3}}, {DType::I16, {2}},   {DType::I8, {7}},     {DType::U8, {2, 2, 2}}, {DType::BOOL, {3}}};
  buffers.reserve(specs.size());
  for (std::size_t i = 0; i < specs.size(); ++i) {
    auto [dtype, shape] = specs[i];
    std::size_t numel = 1;
    for (auto d : shape) numel *= static_cast<std::size_t>(d);
    std::string bytes(numel * dtype_size(dtype), '\0');
    for (std::size_t b = 0; b < bytes.size(); ++b) bytes[b] = static_cast<char>(i * 31 + b * 7 + 1);
    if (dtype == DType::BOOL) bytes = std::string("\x01\x00\x01", 3);
    buffers.push_back(bytes);
  }
  for (std::size_t i = 0; i < specs.size(); ++i)
    tensors.push_back({fmt::format("t{}.{}", i, dtype_name(specs[i].first)), specs[i].first, specs[i].second,
                       buffers[i].data(), buffers[i].size()});
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "é ünïcode \"quoted\""}};
  write_safetensors(path, tensors, metadata);

  SafetensorsFile file(path);
  EXPECT_EQ(file.path(), path);
  EXPECT_EQ(file.metadata(), metadata);
  ASSERT_EQ(file.size(), tensors.size());
  std::vector<std::string> expected_names;
  for (const auto& t : tensors) expected_names.push_back(t.name);
  EXPECT_EQ(file.names(), expected_names);  // file order = the order we wrote
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorView& view = file.get(tensors[i].name);
    EXPECT_EQ(view.name, tensors[i].name);
    EXPECT_EQ(view.dtype, tensors[i].dtype);
    EXPECT_EQ(view.shape, tensors[i].shape);
    EXPECT_EQ(view.nbytes, buffers[i].size());
    EXPECT_EQ(static_cast<std::size_t>(view.numel()) * dtype_size(view.dtype), view.nbytes);
    EXPECT_EQ(bytes_of(view), buffers[i]) << view.name;
  }
  EXPECT_TRUE(file.contains("t0.BF16"));
  EXPECT_FALSE(file.contains("nope"));
  std::string message = error_of([&] { file.get("nope"); });
  EXPECT_EQ(message, path.string() + ": no tensor 'nope'");
}

TEST(Safetensors, RoundTripScalarEmptyAndNoTensors) {
  auto dir = test::scratch_dir();
  float scalar = 2.5f;
  write_safetensors(dir / "a.safetensors", {{"scalar", DType::F32, {}, &scalar, 4},
                                            {"empty", DType::I64, {0, 3}, nullptr, 0},
                                            {"after", DType::F32, {1}, &scalar, 4}});
  SafetensorsFile file(dir / "a.safetensors");
  EXPECT_EQ(file.get("scalar").shape, std::vector<std::int64_t>{});
  EXPECT_EQ(file.get("scalar").numel(), 1);
  float back = 0;
  std::memcpy(&back, file.get("scalar").data, 4);
  EXPECT_EQ(back, 2.5f);
  EXPECT_EQ(file.get("empty").nbytes, 0u);
  EXPECT_EQ(file.get("empty").numel(), 0);
  EXPECT_EQ(file.get("empty").shape, (std::vector<std::int64_t>{0, 3}));
  EXPECT_EQ(file.metadata().size(), 0u);

  write_safetensors(dir / "none.safetensors", {});
  SafetensorsFile none(dir / "none.safetensors");
  EXPECT_EQ(none.size(), 0u);
  EXPECT_TRUE(none.names().empty());
}

// The interop check: the bytes we write, verified by hand against the format (8-byte LE length,
// JSON object starting with '{', __metadata__, space padding to a multiple of 8, contiguous data).
TEST(Safetensors, HeaderBytesByHand) {
  auto dir = test::scratch_dir();
  auto path = dir / "h.safetensors";
  const std::int16_t a[3] = {1, -2, 3};       // 6 bytes: the next tensor starts at data offset 6
  const float b[2] = {1.5f, -0.25f};
  write_safetensors(path, {{"a", DType::I16, {3}, a, sizeof a}, {"b", DType::F32, {2}, b, sizeof b}},
                    {{"format", "pt"}});
  const std::string raw = read_file(path);
  ASSERT_GE(raw.size(), 8u);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(static_cast<unsigned char>(raw[i])) << (8 * i);
  EXPECT_EQ(n % 8, 0u) << "header length must be a multiple of 8";
  ASSERT_EQ(raw.size(), 8 + n + sizeof a + sizeof b);
  const std::string header = raw.substr(8, n);
  EXPECT_EQ(header.front(), '{');
  const auto close = header.find_last_of('}');
  ASSERT_NE(close, std::string::npos);
  EXPECT_EQ(header.substr(close + 1), std::string(n - close - 1, ' ')) << "padding must be spaces";
  EXPECT_LT(n - close - 1, 8u);
  EXPECT_EQ(header.find("{\"__metadata__\":{\"format\":\"pt\"}"), 0u) << header;  // __metadata__ first
  Json j = Json::parse(header);
  EXPECT_EQ(j["a"]["dtype"], "I16");
  EXPECT_EQ(j["a"]["shape"], Json::array({3}));
  EXPECT_EQ(j["a"]["data_offsets"], Json::array({0, 6}));
  EXPECT_EQ(j["b"]["dtype"], "F32");
  EXPECT_EQ(j["b"]["data_offsets"], Json::array({6, 14}));
  EXPECT_EQ(std::memcmp(raw.data() + 8 + n, a, sizeof a), 0);
  EXPECT_EQ(std::memcmp(raw.data() + 8 + n + 6, b, sizeof b), 0);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(SafetensorsFile(path).get("a").data) % 8, 0u)
      << "the data section starts 8-byte aligned in the map";
}

TEST(Safetensors, WriteIsAtomicAndReplaces) {
  auto dir = test::scratch_dir();
  auto path = dir / "sub" / "w.safetensors";
  std::int32_t v = 1;
  write_safetensors(path, {{"v", DType::I32, {1}, &v, 4}});
  v = 2;
  write_safetensors(path, {{"v", DType::I32, {1}, &v, 4}, {"w", DType::I32, {1}, &v, 4}});
  SafetensorsFile file(path);
  EXPECT_EQ(file.size(), 2u);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir / "sub")) files += entry.is_regular_file();
  EXPECT_EQ(files, 1) << "no temp file left behind";
}

TEST(Safetensors, WriterRejectsBadInput) {
  auto dir = test::scratch_dir();
  auto path = dir / "bad.safetensors";
  float x[2] = {0, 0};
  auto message = error_of([&] { write_safetensors(path, {{"x", DType::F32, {3}, x, 8}}); });
  EXPECT_EQ(message, path.string() + ": tensor 'x': shape [3] of F32 needs 12 bytes, got 8");
  message = error_of([&] { write_safetensors(path, {{"x", DType::F32, {2}, x, 8}, {"x", DType::F32, {2}, x, 8}}); });
  EXPECT_EQ(message, path.string() + ": duplicate tensor name 'x'");
  message = error_of([&] { write_safetensors(path, {{"__metadata__", DType::F32, {2}, x, 8}}); });
  EXPECT_NE(message.find("'__metadata__' is reserved"), std::string::npos) << message;
  message = error_of([&] { write_safetensors(path, {{"x", DType::F32, {-2}, x, 8}}); });
  EXPECT_NE(message.find("negative dimension"), std::string::npos) << message;
  message = error_of([&] { write_safetensors(path, {{"x", DType::F32, {2}, nullptr, 8}}); });
  EXPECT_NE(message.find("no data"), std::string::npos) << message;
  message = error_of([&] { write_safetensors(path, {{"bad\xff", DType::F32, {2}, x, 8}}); });
  EXPECT_NE(message.find("not valid UTF-8"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(path)) << "a failed write leaves nothing behind";
}

// --- the shared fixtures ------------------------------------------------------------------------------

TEST(Safetensors, FixtureModelOpensWithExpectedTensors) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  auto path = test::shared_path("fixtures/tiny-qwen3/model.safetensors");
  SafetensorsFile file(path);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  auto names = file.names();
  ASSERT_EQ(names.size(), 24u);  // embed + 2 layers x 11 + norm; tied embeddings: no lm_head
  EXPECT_EQ(names.front(), "model.embed_tokens.weight");
  EXPECT_EQ(names.back(), "model.norm.weight");
  EXPECT_FALSE(file.contains("lm_head.weight"));
  const auto& embed = file.get("model.embed_tokens.weight");
  EXPECT_EQ(embed.dtype, DType::F32);
  EXPECT_EQ(embed.shape, (std::vector<std::int64_t>{151936, 64}));
  EXPECT_EQ(embed.nbytes, 151936u * 64u * 4u);
  EXPECT_EQ(file.get("model.layers.0.self_attn.q_proj.weight").shape, (std::vector<std::int64_t>{128, 64}));
  EXPECT_EQ(file.get("model.layers.1.self_attn.o_proj.weight").shape, (std::vector<std::int64_t>{64, 128}));
  EXPECT_EQ(file.get("model.layers.1.self_attn.k_proj.weight").shape, (std::vector<std::int64_t>{64, 64}));
  EXPECT_EQ(file.get("model.layers.0.self_attn.q_norm.weight").shape, (std::vector<std::int64_t>{32}));
  EXPECT_EQ(file.get("model.layers.0.mlp.down_proj.weight").shape, (std::vector<std::int64_t>{64, 128}));
  // Contiguous from the first byte of the data section to the end of the file (8 + header + data).
  const auto& norm = file.get("model.norm.weight");
  const auto data_bytes = static_cast<std::uintmax_t>(norm.data + norm.nbytes - embed.data);
  EXPECT_EQ(data_bytes, 39290624u);
  EXPECT_EQ(fs::file_size(path), 8u + 2568u + data_bytes);
}

TEST(Safetensors, FixtureReferenceOpensWithExpectedTensors) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/reference.safetensors");
  SafetensorsFile file(test::shared_path("fixtures/tiny-qwen3/reference.safetensors"));
  EXPECT_EQ(file.size(), 15u);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.metadata().at("model"), "tiny-qwen3");
  struct Expected {
    const char* name;
    DType dtype;
    std::vector<std::int64_t> shape;
  };
  const std::vector<Expected> expected = {
      {"input_ids", DType::I64, {97}},
      {"ref_logits_top32_ids", DType::I64, {97, 32}},
      {"ref_logits_top32", DType::F32, {97, 32}},
      {"ref_logsumexp", DType::F32, {97}},
      {"ref_logits_last", DType::F32, {151936}},
      {"llamacpp_logits_top32", DType::F32, {97, 32}},
      {"llamacpp_logits_last", DType::F32, {151936}},
      {"ref_attn_probs.layer0", DType::F32, {4, 97, 97}},
      {"ref_attn_probs.layer1", DType::F32, {4, 97, 97}},
      {"ref_greedy_continuation", DType::I64, {32}},
      {"ref_greedy_top2_margin", DType::F32, {32}},
      {"ref_hidden.embed", DType::F32, {97, 64}},
      {"ref_hidden.layer0", DType::F32, {97, 64}},
      {"ref_hidden.layer1", DType::F32, {97, 64}},
      {"ref_hidden.final_norm", DType::F32, {97, 64}},
  };
  for (const auto& e : expected) {
    ASSERT_TRUE(file.contains(e.name)) << e.name;
    const auto& view = file.get(e.name);
    EXPECT_EQ(view.dtype, e.dtype) << e.name;
    EXPECT_EQ(view.shape, e.shape) << e.name;
  }
  // The prompt starts with <|im_start|> (151644); attention probabilities are 0 above the diagonal.
  std::int64_t first_id = 0;
  std::memcpy(&first_id, file.get("input_ids").data, 8);
  EXPECT_EQ(first_id, 151644);
  float above_diagonal = -1, row0 = 0;
  std::memcpy(&above_diagonal, file.get("ref_attn_probs.layer0").data + 4 * 1, 4);  // [0, 0, 1]
  std::memcpy(&row0, file.get("ref_attn_probs.layer0").data, 4);                    // [0, 0, 0]
  EXPECT_EQ(above_diagonal, 0.0f);
  EXPECT_FLOAT_EQ(row0, 1.0f);
}

TEST(Safetensors, WeightSetOpensSingleFileFolder) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/model.safetensors");
  auto dir = test::shared_path("fixtures/tiny-qwen3");
  auto weights = WeightSet::open_dir(dir);
  EXPECT_EQ(weights.names().size(), 24u);
  EXPECT_TRUE(weights.contains("model.norm.weight"));
  EXPECT_EQ(weights.get("model.norm.weight").shape, std::vector<std::int64_t>{64});
  EXPECT_EQ(weights.source_of("model.norm.weight"), (dir / "model.safetensors").string());
  std::string message = error_of([&] { weights.get("lm_head.weight"); });
  EXPECT_EQ(message, dir.string() + ": missing tensor 'lm_head.weight'");
}

// --- broken files: each must fail with one line naming the file and the problem ------------------------

TEST(SafetensorsBad, EmptyAndShorterThanEightBytes) {
  auto dir = test::scratch_dir();
  write_bytes(dir / "empty.safetensors", "");
  expect_open_fails(dir / "empty.safetensors", "truncated safetensors file (0 bytes");
  write_bytes(dir / "short.safetensors", std::string("\x10\x00\x00\x00\x00", 5));
  expect_open_fails(dir / "short.safetensors", "truncated safetensors file (5 bytes");
}

TEST(SafetensorsBad, MissingFileAndFolder) {
  auto dir = test::scratch_dir();
  expect_open_fails(dir / "absent.safetensors", "cannot open");
  expect_open_fails(dir, "a folder, not a file");
}

TEST(SafetensorsBad, HeaderLengthBeyondFileSize) {
  auto dir = test::scratch_dir();
  auto path = dir / "x.safetensors";
  write_bytes(path, le64(1000) + "{}");
  expect_open_fails(path, "header length 1000 runs past the end of the file (10 bytes)");
  // One byte too many is caught too.
  write_bytes(path, le64(3) + "{}");
  expect_open_fails(path, "header length 3 runs past the end of the file (10 bytes)");
}

TEST(SafetensorsBad, HeaderLengthAbsurd) {
  auto dir = test::scratch_dir();
  auto path = dir / "x.safetensors";
  write_bytes(path, le64(200'000'000) + "{}");
  expect_open_fails(path, "header length 200000000 is absurd");
  write_bytes(path, le64(~0ull) + "{}");  // would overflow 8 + n
  expect_open_fails(path, "header length 18446744073709551615 is absurd");
}

TEST(SafetensorsBad, HeaderNotJson) {
  auto dir = test::scratch_dir();
  expect_open_fails(craft(dir, "{\"a\": "), "header is not valid JSON");
  expect_open_fails(craft(dir, "not json at all"), "header is not valid JSON");
  expect_open_fails(craft(dir, ""), "header is not valid JSON");
  expect_open_fails(craft(dir, std::string("{}\0\0\0\0\0\0", 8)), "header is not valid JSON");  // NUL padding
  expect_open_fails(craft(dir, "{\"a\": \"\xff\xfe\"}"), "header is not valid JSON");            // bad UTF-8
  expect_open_fails(craft(dir, "{\"a\": 1e999}"), "header is not valid JSON");                   // number overflow
  expect_open_fails(craft(dir, std::string(100000, '[')), "header is not valid JSON");           // deep nesting
}

TEST(SafetensorsBad, HeaderNotAnObject) {
  auto dir = test::scratch_dir();
  expect_open_fails(craft(dir, "[1, 2, 3]"), "header is a JSON array, expected an object");
  expect_open_fails(craft(dir, "\"text\"  "), "header is a JSON string, expected an object");
  expect_open_fails(craft(dir, "42"), "header is a JSON number, expected an object");
}

TEST(SafetensorsBad, EntryNotAnObjectOrMissingKeys) {
  auto dir = test::scratch_dir();
  expect_open_fails(craft(dir, R"({"w": [1, 2]})"), "tensor 'w': entry is a JSON array, expected an object");
  expect_open_fails(craft(dir, R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", "abcd"),
                    "tensor 'w': missing or non-string 'dtype'");
  expect_open_fails(craft(dir, R"({"w": {"dtype": 7, "shape": [1], "data_offsets": [0, 4]}})", "abcd"),
                    "tensor 'w': missing or non-string 'dtype'");
  expect_open_fails(craft(dir, R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", "abcd"),
                    "tensor 'w': missing 'shape'");
  expect_open_fails(craft(dir, R"({"w": {"dtype": "F32", "shape": [1]}})", "abcd"),
                    "tensor 'w': missing 'data_offsets'");
}

TEST(SafetensorsBad, UnknownDtype) {
  auto dir = test::scratch_dir();
  expect_open_fails(craft(dir, R"({"w": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}})", "abcd"),
                    "tensor 'w': unknown dtype 'F8_E4M3'");
  expect_open_fails(craft(dir, R"({"w": {"dtype": "float32", "shape": [1], "data_offsets": [0, 4]}})", "abcd"),
                    "tensor 'w': unknown dtype 'float32'");
}

TEST(SafetensorsBad, ShapeNotAListOfNonNegativeInts) {
  auto dir = test::scratch_dir();
  const char* bad_shapes[] = {"\"4\"", "4", "[-1]", "[2, -2]", "[1.0]", "[1.5]", "[true]", "[[1]]", "[null]",
                              "[9223372036854775808]", "{}"};
  for (const char* shape : bad_shapes) {
    auto header = fmt::format(R"({{"w": {{"dtype": "U8", "shape": {}, "data_offsets": [0, 1]}}}})", shape);
    expect_open_fails(craft(dir, header, "a"), "tensor 'w': shape must be a list of non-negative integers");
  }
}

TEST(SafetensorsBad, DataOffsetsNotBeginEnd) {
  auto dir = test::scratch_dir();
  const char* bad_offsets[] = {"[4, 0]", "[0]", "[0, 4, 8]", "[]", "\"0,4\"", "[-4, 4]", "[0, 4.0]", "[0, \"4\"]",
                               "{\"begin\": 0, \"end\": 4}", "[0, 18446744073709551616]"};
  for (const char* offsets : bad_offsets) {
    auto header = fmt::format(R"({{"w": {{"dtype": "F32", "shape": [1], "data_offsets": {}}}}})", offsets);
    expect_open_fails(craft(dir, header, "abcd"), "tensor 'w': data_offsets must be [begin, end] with integers 0 <= begin <= end");
  }
}

TEST(SafetensorsBad, EndBeyondDataSection) {
  auto dir = test::scratch_dir();
  expect_open_fails(craft(dir, R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", "abcd"),
                    "tensor 'w': data_offsets [0, 8] run past the end of the data section (4 bytes)");
  // Huge offsets must not wrap around.
  expect_open_fails(
      craft(dir, R"({"w": {"dtype": "U8", "shape": [1], "data_offsets": [18446744073709551615, 18446744073709551615]}})", "a"),
      "run past the end of the data section (1 bytes)");
}

TEST(SafetensorsBad, ByteCountDisagreesWithShape) {
  auto dir = test::scratch_dir();
  expect_open_fails(craft(dir, R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})", std::string(24, 'x')),
                    "tensor 'w': shape [2, 3] of F32 needs 24 bytes, but data_offsets [0, 20] hold 20");
  expect_open_fails(craft(dir, R"({"w": {"dtype": "BF16", "shape": [], "data_offsets": [0, 0]}})"),
                    "tensor 'w': shape [] of BF16 needs 2 bytes, but data_offsets [0, 0] hold 0");
}

TEST(SafetensorsBad, ShapeOverflowIsCaughtNotWrapped) {
  auto dir = test::scratch_dir();
  // 2^32 * 2^32 wraps to 0 in 64 bits, which would "match" data_offsets [0, 0].
  expect_open_fails(craft(dir, R"({"w": {"dtype": "U8", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})"),
                    "tensor 'w': shape [4294967296, 4294967296] is too large");
  // 2^62 elements of F32: the element count fits, the byte count does not.
  expect_open_fails(craft(dir, R"({"w": {"dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 0]}})"),
                    "is too large");
  // A zero dimension does not excuse overflowing others (torch derives strides from them).
  expect_open_fails(
      craft(dir, R"({"w": {"dtype": "U8", "shape": [4294967296, 4294967296, 0], "data_offsets": [0, 0]}})"),
      "is too large");
}

TEST(SafetensorsBad, OverlappingTensorsRejected) {
  auto dir = test::scratch_dir();
  auto path = craft(dir,
                    R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                    std::string(12, 'x'));
  expect_open_fails(path, "tensors 'a' (data_offsets [0, 8]) and 'b' (data_offsets [4, 12]) overlap");
  // Full aliasing (two names, same bytes) and containment are overlaps too.
  expect_open_fails(craft(dir,
                          R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                              "b": {"dtype": "I32", "shape": [1], "data_offsets": [0, 4]}})",
                          "abcd"),
                    "overlap");
  expect_open_fails(craft(dir,
                          R"({"big": {"dtype": "U8", "shape": [12], "data_offsets": [0, 12]},
                              "c": {"dtype": "U8", "shape": [4], "data_offsets": [8, 12]},
                              "small": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}})",
                          std::string(12, 'x')),
                    "overlap");
}

TEST(SafetensorsBad, MetadataMustMapStringsToStrings) {
  auto dir = test::scratch_dir();
  expect_open_fails(craft(dir, R"({"__metadata__": {"format": "pt", "step": 3}})"),
                    "__metadata__ must map strings to strings, but 'step' holds a number");
  expect_open_fails(craft(dir, R"({"__metadata__": ["pt"]})"), "__metadata__ is a JSON array");
}

// What we accept on purpose (see safetensors.h): empty tensors anywhere, gaps, trailing bytes,
// an unaligned data section, and duplicate names (the JSON parser keeps one).
TEST(SafetensorsBad, LenientButSafeLayoutsOpen) {
  auto dir = test::scratch_dir();
  auto path = craft(dir,
                    R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
                        "e1": {"dtype": "F32", "shape": [0], "data_offsets": [1, 1]},
                        "e2": {"dtype": "F32", "shape": [0, 4], "data_offsets": [2, 2]},
                        "b": {"dtype": "U8", "shape": [1], "data_offsets": [4, 5]}})",
                    "xy..z..trailing");
  SafetensorsFile file(path);
  EXPECT_EQ(file.names(), (std::vector<std::string>{"a", "e1", "e2", "b"}));
  EXPECT_EQ(bytes_of(file.get("b")), "z");
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(file.get("a").data) % 2, 1u) << "header of odd length: data at odd address";

  auto dup = craft(dir, R"({"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
                            "w": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}})",
                   "ab", "dup.safetensors");
  SafetensorsFile dup_file(dup);
  EXPECT_EQ(dup_file.size(), 1u);
}

// Every proper prefix of a valid file is an error, never a crash or an out-of-bounds read.
TEST(SafetensorsBad, EveryTruncationFailsCleanly) {
  auto dir = test::scratch_dir();
  const std::int32_t values[3] = {1, 2, 3};
  write_safetensors(dir / "full.safetensors", {{"v", DType::I32, {3}, values, sizeof values}}, {{"k", "v"}});
  const std::string full = read_file(dir / "full.safetensors");
  for (std::size_t length = 0; length < full.size(); ++length) {
    auto path = dir / "cut.safetensors";
    write_bytes(path, full.substr(0, length));
    EXPECT_THROW(SafetensorsFile file(path), Error) << "prefix of " << length << " bytes";
  }
}

// Random byte corruption of a valid file: opening either succeeds with views inside the file or
// throws illume::Error. Under ASan this checks we never read outside the map.
TEST(SafetensorsBad, RandomCorruptionNeverCrashes) {
  auto dir = test::scratch_dir();
  const float a[4] = {1, 2, 3, 4};
  const std::int64_t b[2] = {5, 6};
  write_safetensors(dir / "good.safetensors",
                    {{"alpha", DType::F32, {2, 2}, a, sizeof a}, {"beta", DType::I64, {2}, b, sizeof b}}, {{"format", "pt"}});
  const std::string good = read_file(dir / "good.safetensors");
  std::mt19937 rng(1234);
  int opened = 0;
  for (int round = 0; round < 1500; ++round) {
    std::string bytes = good;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      std::size_t at = rng() % bytes.size();
      // Mostly ASCII digits and JSON punctuation inside the header, which produces more interesting headers.
      static const char kChars[] = "0123456789[]{},:\"-. eE";
      bytes[at] = (rng() % 2) ? kChars[rng() % (sizeof kChars - 1)] : static_cast<char>(rng());
    }
    auto path = dir / "fuzz.safetensors";
    write_bytes(path, bytes);
    try {
      SafetensorsFile file(path);
      ++opened;
      volatile std::uint8_t sink = 0;
      for (const auto& name : file.names()) {
        const auto& view = file.get(name);
        for (std::size_t i = 0; i < view.nbytes; ++i) sink = sink + view.data[i];
        EXPECT_EQ(static_cast<std::size_t>(view.numel()) * dtype_size(view.dtype), view.nbytes);
      }
    } catch (const Error&) {
    }
  }
  EXPECT_GT(opened, 0);  // some corruptions only touch data bytes
}

// --- sharded folders --------------------------------------------------------------------------------

namespace {

// dir/model-0000{1,2}-of-00002.safetensors with a, b in shard 1 and c in shard 2, plus the index.
void write_sharded(const fs::path& dir) {
  const float a[2] = {1, 2}, b[3] = {3, 4, 5}, c[1] = {6};
  write_safetensors(dir / "model-00001-of-00002.safetensors",
                    {{"a", DType::F32, {2}, a, sizeof a}, {"b", DType::F32, {3}, b, sizeof b}}, {{"format", "pt"}});
  write_safetensors(dir / "model-00002-of-00002.safetensors", {{"c", DType::F32, {1}, c, sizeof c}}, {{"format", "pt"}});
  write_file_atomic(dir / "model.safetensors.index.json", R"({
    "metadata": {"total_size": 24},
    "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
                   "c": "model-00002-of-00002.safetensors"}})");
}

}  // namespace

TEST(SafetensorsShards, OpensShardedFolder) {
  auto dir = test::scratch_dir();
  write_sharded(dir);
  auto weights = WeightSet::open_dir(dir);
  EXPECT_EQ(weights.dir(), dir);
  EXPECT_EQ(weights.names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(weights.get("b").shape, std::vector<std::int64_t>{3});
  float c = 0;
  std::memcpy(&c, weights.get("c").data, 4);
  EXPECT_EQ(c, 6.0f);
  EXPECT_EQ(weights.source_of("a"), (dir / "model-00001-of-00002.safetensors").string());
  EXPECT_EQ(weights.source_of("c"), (dir / "model-00002-of-00002.safetensors").string());
  EXPECT_EQ(error_of([&] { weights.get("d"); }), dir.string() + ": missing tensor 'd'");
  EXPECT_EQ(error_of([&] { weights.source_of("d"); }), dir.string() + ": missing tensor 'd'");
  // A copy shares the maps and outlives the original.
  std::optional<WeightSet> copy;
  {
    auto local = WeightSet::open_dir(dir);
    copy = local;
  }
  std::memcpy(&c, copy->get("c").data, 4);
  EXPECT_EQ(c, 6.0f);
}

TEST(SafetensorsShards, IndexWinsOverSingleFile) {
  auto dir = test::scratch_dir();
  write_sharded(dir);
  const float z = 0;
  write_safetensors(dir / "model.safetensors", {{"z", DType::F32, {1}, &z, 4}});
  auto weights = WeightSet::open_dir(dir);
  EXPECT_TRUE(weights.contains("a"));
  EXPECT_FALSE(weights.contains("z"));
}

TEST(SafetensorsShards, NeitherFileExists) {
  auto dir = test::scratch_dir();
  expect_dir_fails(dir, dir.string(), "no model.safetensors or model.safetensors.index.json");
  expect_dir_fails(dir / "absent", (dir / "absent").string(), "not a folder");
}

TEST(SafetensorsShards, MalformedIndex) {
  auto dir = test::scratch_dir();
  write_sharded(dir);
  auto index = dir / "model.safetensors.index.json";
  write_file_atomic(index, R"({"weight_map": {"a": )");
  expect_dir_fails(dir, index.string(), "malformed JSON");
  write_file_atomic(index, R"(["weight_map"])");
  expect_dir_fails(dir, index.string(), "expected a JSON object with 'weight_map'");
  write_file_atomic(index, R"({"metadata": {}})");
  expect_dir_fails(dir, index.string(), "missing 'weight_map'");
  write_file_atomic(index, R"({"weight_map": ["a"]})");
  expect_dir_fails(dir, index.string(), "'weight_map' is a JSON array, expected an object");
  write_file_atomic(index, R"({"weight_map": {"a": 1}})");
  expect_dir_fails(dir, index.string(), "weight_map['a'] is a JSON number, expected a shard file name");
  write_file_atomic(index, R"({"weight_map": {"a": "../model-00001-of-00002.safetensors"}})");
  expect_dir_fails(dir, index.string(), "not a file inside the folder");
  write_file_atomic(index, R"({"weight_map": {"a": "/etc/passwd"}})");
  expect_dir_fails(dir, index.string(), "not a file inside the folder");
}

TEST(SafetensorsShards, ShardFileMissing) {
  auto dir = test::scratch_dir();
  write_sharded(dir);
  fs::remove(dir / "model-00002-of-00002.safetensors");
  expect_dir_fails(dir, (dir / "model.safetensors.index.json").string(),
                   "shard 'model-00002-of-00002.safetensors' (holding 'c') does not exist");
}

TEST(SafetensorsShards, TensorListedButAbsentFromShard) {
  auto dir = test::scratch_dir();
  write_sharded(dir);
  write_file_atomic(dir / "model.safetensors.index.json",
                    R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "c": "model-00001-of-00002.safetensors"}})");
  expect_dir_fails(dir, (dir / "model-00001-of-00002.safetensors").string(),
                   "tensor 'c' is listed in model.safetensors.index.json but absent from this shard");
}

TEST(SafetensorsShards, BrokenShardNamesTheShard) {
  auto dir = test::scratch_dir();
  write_sharded(dir);
  write_bytes(dir / "model-00002-of-00002.safetensors", "tiny");
  expect_dir_fails(dir, (dir / "model-00002-of-00002.safetensors").string(), "truncated safetensors file");
}

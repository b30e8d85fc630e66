// The torch bridge of safetensors: tensors over the map (zero-copy or copied), saving, shape/dtype checks.
#include <torch/torch.h>

#include <cstring>
#include <fstream>

#include "common.h"
#include "illume/io/safetensors.h"
#include "illume/io/safetensors_torch.h"
#include "illume/util/error.h"
#include "illume/util/file.h"

using namespace illume;
using illume::test::error_of;
namespace fs = std::filesystem;

namespace {

std::string le64(std::uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out;
}

st::TensorToWrite entry(const std::string& name, const at::Tensor& t) {
  return {name, from_scalar_type(t.scalar_type()), t.sizes().vec(), t.data_ptr(),
          static_cast<std::size_t>(t.numel()) * t.element_size()};
}

}  // namespace

TEST(SafetensorsTorch, ScalarTypeMapping) {
  for (auto d : {st::DType::F64, st::DType::F32, st::DType::F16, st::DType::BF16, st::DType::I64, st::DType::I32,
                 st::DType::I16, st::DType::I8, st::DType::U8, st::DType::BOOL}) {
    EXPECT_EQ(from_scalar_type(to_scalar_type(d)), d) << st::dtype_name(d);
    EXPECT_EQ(static_cast<std::size_t>(c10::elementSize(to_scalar_type(d))), st::dtype_size(d)) << st::dtype_name(d);
  }
  EXPECT_EQ(to_scalar_type(st::DType::BF16), at::kBFloat16);
  EXPECT_EQ(to_scalar_type(st::DType::I64), at::kLong);
  std::string message = error_of([] { from_scalar_type(at::kComplexFloat); });
  EXPECT_NE(message.find("has no safetensors equivalent"), std::string::npos) << message;
}

TEST(SafetensorsTorch, ValuesEqualTheBytesF32Bf16I64) {
  auto dir = test::scratch_dir();
  auto f32 = torch::tensor({1.5f, -2.0f, 3.25f, 1e-8f, -0.0f, 65504.f}).reshape({2, 3});
  auto bf16 = torch::tensor({1.0f, -0.5f, 3.140625f, 256.0f}).to(torch::kBFloat16);
  auto i64 = torch::tensor({std::int64_t{151644}, std::int64_t{-1}, std::int64_t{1} << 40});
  st::write_safetensors(dir / "v.safetensors", {entry("f32", f32), entry("bf16", bf16), entry("i64", i64)});
  st::SafetensorsFile file(dir / "v.safetensors");
  for (const auto& [name, original] : {std::pair{"f32", f32}, std::pair{"bf16", bf16}, std::pair{"i64", i64}}) {
    at::Tensor t = to_tensor(file, name);
    EXPECT_EQ(t.scalar_type(), original.scalar_type()) << name;
    EXPECT_EQ(t.sizes(), original.sizes()) << name;
    EXPECT_TRUE(t.is_contiguous());
    EXPECT_TRUE(torch::equal(t, original)) << name;
    EXPECT_EQ(std::memcmp(t.data_ptr(), file.get(name).data, file.get(name).nbytes), 0) << name;
  }
  EXPECT_EQ(to_tensor(file, "i64")[2].item<std::int64_t>(), std::int64_t{1} << 40);
  EXPECT_FLOAT_EQ(to_tensor(file, "bf16")[2].item<float>(), 3.140625f);
}

TEST(SafetensorsTorch, ZeroCopyWhenAlignedAndKeepsMapAlive) {
  auto dir = test::scratch_dir();
  auto a = torch::arange(12, torch::kFloat).reshape({3, 4});
  auto b = torch::arange(5, torch::kLong);
  st::write_safetensors(dir / "z.safetensors", {entry("a", a), entry("b", b)});
  at::Tensor ta, tb;
  {
    st::SafetensorsFile file(dir / "z.safetensors");
    ta = to_tensor(file, "a");
    tb = to_tensor(file, "b");
    EXPECT_EQ(ta.data_ptr(), static_cast<const void*>(file.get("a").data)) << "aligned: no copy";
    EXPECT_EQ(tb.data_ptr(), static_cast<const void*>(file.get("b").data)) << "aligned: no copy";
  }
  // The file object is gone; the tensors still hold the map.
  EXPECT_TRUE(torch::equal(ta, a));
  EXPECT_TRUE(torch::equal(tb, b));
  ta = at::Tensor();
  EXPECT_TRUE(torch::equal(tb, b));
}

TEST(SafetensorsTorch, CopyWhenMisalignedOrNoKeepAlive) {
  auto dir = test::scratch_dir();
  // A header of odd length puts the data section at an odd address: F32 at data offset 0 is misaligned.
  const std::string header = R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})";
  ASSERT_EQ(header.size() % 2, 1u);
  const float values[3] = {1.0f, -2.0f, 0.5f};
  {
    std::ofstream out(dir / "m.safetensors", std::ios::binary);
    out << le64(header.size()) << header;
    out.write(reinterpret_cast<const char*>(values), sizeof values);
  }
  st::SafetensorsFile file(dir / "m.safetensors");
  const auto& view = file.get("x");
  ASSERT_NE(reinterpret_cast<std::uintptr_t>(view.data) % 4, 0u);
  at::Tensor t = to_tensor(file, "x");
  EXPECT_NE(t.data_ptr(), static_cast<const void*>(view.data)) << "misaligned: copied";
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data_ptr()) % 4, 0u);
  EXPECT_TRUE(torch::equal(t, torch::tensor({1.0f, -2.0f, 0.5f})));

  // Aligned, but no keep-alive given: must copy (the view's memory may not outlive the call).
  st::write_safetensors(dir / "a.safetensors", {entry("y", torch::ones({4}))});
  st::SafetensorsFile aligned(dir / "a.safetensors");
  at::Tensor copy = to_tensor(aligned.get("y"), nullptr);
  EXPECT_NE(copy.data_ptr(), static_cast<const void*>(aligned.get("y").data));
  EXPECT_TRUE(torch::equal(copy, torch::ones({4})));
}

TEST(SafetensorsTorch, WritingTheResultDoesNotModifyTheFile) {
  auto dir = test::scratch_dir();
  auto path = dir / "w.safetensors";
  st::write_safetensors(path, {entry("w", torch::arange(8, torch::kFloat))});
  const std::string before = read_file(path);
  {
    st::SafetensorsFile file(path);
    at::Tensor t = to_tensor(file, "w");
    ASSERT_EQ(t.data_ptr(), static_cast<const void*>(file.get("w").data)) << "this test is about the zero-copy case";
    t.fill_(42.0f);
    t.add_(1.0f);
    EXPECT_EQ(t[3].item<float>(), 43.0f);
  }
  EXPECT_EQ(read_file(path), before);
  auto reloaded = load_safetensors(path);
  EXPECT_TRUE(torch::equal(reloaded.at("w"), torch::arange(8, torch::kFloat)));
}

TEST(SafetensorsTorch, SaveLoadRoundTrip) {
  auto dir = test::scratch_dir();
  auto path = dir / "rt.safetensors";
  auto base = torch::randn({4, 6});
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"f32", base},
      {"transposed", base.t()},                        // non-contiguous
      {"slice", base.narrow(1, 2, 3)},                 // storage offset + strides
      {"f64", torch::randn({3}, torch::kDouble)},
      {"f16", torch::randn({2, 2}).to(torch::kHalf)},
      {"bf16", torch::randn({5}).to(torch::kBFloat16)},  // odd byte count: later tensors misaligned
      {"i64", torch::arange(7, torch::kLong)},
      {"i32", torch::arange(3, torch::kInt)},
      {"i16", torch::arange(3, torch::kShort)},
      {"i8", torch::tensor({-3, 4}, torch::kChar)},
      {"u8", torch::tensor({200, 1, 7}, torch::kByte)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(3.5)},
      {"empty", torch::zeros({0, 4})},
      {"negview", torch::_neg_view(torch::ones({2}))},
  };
  save_safetensors(path, tensors, {{"step", "12"}});
  auto loaded = load_safetensors(path);
  ASSERT_EQ(loaded.size(), tensors.size());
  for (const auto& [name, original] : tensors) {
    ASSERT_TRUE(loaded.count(name)) << name;
    const at::Tensor& back = loaded.at(name);
    EXPECT_EQ(back.scalar_type(), original.scalar_type()) << name;
    EXPECT_EQ(back.sizes(), original.sizes()) << name;
    EXPECT_TRUE(torch::equal(back, original)) << name;
  }
  EXPECT_EQ(loaded.at("negview")[0].item<float>(), -1.0f);
  st::SafetensorsFile file(path);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.metadata().at("step"), "12");
  std::vector<std::string> order;
  for (const auto& [name, t] : tensors) order.push_back(name);
  EXPECT_EQ(file.names(), order) << "file order is the given order";

  save_safetensors(path, {{"x", torch::ones({1})}}, {{"format", "mlx"}});
  EXPECT_EQ(st::SafetensorsFile(path).metadata().at("format"), "mlx") << "an explicit format is kept";
}

TEST(SafetensorsTorch, SaveRejectsUnsupportedDtypeNamingFileAndTensor) {
  auto dir = test::scratch_dir();
  auto path = dir / "c.safetensors";
  std::string message = error_of([&] { save_safetensors(path, {{"z", torch::zeros({2}, torch::kComplexFloat)}}); });
  EXPECT_NE(message.find(path.string() + ": tensor 'z': dtype ComplexFloat has no safetensors equivalent"), std::string::npos)
      << message;
  message = error_of([&] { save_safetensors(path, {{"u", at::Tensor()}}); });
  EXPECT_EQ(message, path.string() + ": tensor 'u' is undefined");
  EXPECT_FALSE(fs::exists(path));
}

TEST(SafetensorsTorch, TorchWeightsChecksShapeDtypeAndPresence) {
  auto dir = test::scratch_dir();
  save_safetensors(dir / "model.safetensors",
                   {{"w", torch::ones({2, 3})}, {"h", torch::ones({4}).to(torch::kBFloat16)}});
  auto weights = TorchWeights::open_dir(dir);
  EXPECT_EQ(weights.names(), (std::vector<std::string>{"h", "w"}));
  EXPECT_TRUE(weights.contains("w"));
  EXPECT_TRUE(torch::equal(weights.get("w", {2, 3}), torch::ones({2, 3})));
  EXPECT_TRUE(torch::equal(weights.get("w", {2, 3}, at::kFloat), torch::ones({2, 3})));
  const std::string file = (dir / "model.safetensors").string();
  EXPECT_EQ(error_of([&] { weights.get("w", {3, 2}); }), file + ": tensor 'w' has shape [2, 3], expected [3, 2]");
  EXPECT_EQ(error_of([&] { weights.get("w", {6}); }), file + ": tensor 'w' has shape [2, 3], expected [6]");
  EXPECT_EQ(error_of([&] { weights.get("h", {4}, at::kFloat); }), file + ": tensor 'h' has dtype BF16, expected F32");
  EXPECT_EQ(error_of([&] { weights.get("model.norm.weight", {64}); }),
            dir.string() + ": missing tensor 'model.norm.weight'");
  EXPECT_EQ(error_of([&] { weights.get_unchecked("nope"); }), dir.string() + ": missing tensor 'nope'");
  EXPECT_EQ(weights.get_unchecked("h").scalar_type(), at::kBFloat16);
}

TEST(SafetensorsTorch, ShardedFolderLoadsViaTorchWeights) {
  auto dir = test::scratch_dir();
  auto embed = torch::randn({10, 4});
  auto norm = torch::randn({4});
  auto proj = torch::randn({4, 4}).to(torch::kBFloat16);
  save_safetensors(dir / "model-00001-of-00002.safetensors", {{"model.embed_tokens.weight", embed}});
  save_safetensors(dir / "model-00002-of-00002.safetensors", {{"model.norm.weight", norm}, {"model.proj.weight", proj}});
  write_file_atomic(dir / "model.safetensors.index.json", R"({
  "metadata": {"total_size": 240},
  "weight_map": {
    "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
    "model.norm.weight": "model-00002-of-00002.safetensors",
    "model.proj.weight": "model-00002-of-00002.safetensors"
  }
})");
  auto weights = TorchWeights::open_dir(dir);
  EXPECT_EQ(weights.names().size(), 3u);
  EXPECT_TRUE(torch::equal(weights.get("model.embed_tokens.weight", {10, 4}), embed));
  EXPECT_TRUE(torch::equal(weights.get("model.norm.weight", {4}, at::kFloat), norm));
  EXPECT_TRUE(torch::equal(weights.get("model.proj.weight", {4, 4}, at::kBFloat16), proj));
  EXPECT_EQ(weights.source_of("model.norm.weight"), (dir / "model-00002-of-00002.safetensors").string());
  std::string message = error_of([&] { weights.get("model.norm.weight", {8}); });
  EXPECT_EQ(message, (dir / "model-00002-of-00002.safetensors").string() +
                         ": tensor 'model.norm.weight' has shape [4], expected [8]");
}

TEST(SafetensorsTorch, FixtureWeightsAndReference) {
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/reference.safetensors");
  auto dir = test::shared_path("fixtures/tiny-qwen3");
  auto weights = TorchWeights::open_dir(dir);
  at::Tensor embed = weights.get("model.embed_tokens.weight", {151936, 64}, at::kFloat);
  at::Tensor q = weights.get("model.layers.0.self_attn.q_proj.weight", {128, 64}, at::kFloat);
  // The weights are bf16-exact (fixture README): converting to bf16 and back changes nothing.
  EXPECT_TRUE(torch::equal(q.to(torch::kBFloat16).to(torch::kFloat), q));
  EXPECT_TRUE(torch::isfinite(embed).all().item<bool>());

  auto reference = load_safetensors(dir / "reference.safetensors");
  EXPECT_EQ(reference.at("input_ids").scalar_type(), at::kLong);
  EXPECT_EQ(reference.at("input_ids").sizes(), at::IntArrayRef({97}));
  EXPECT_EQ(reference.at("input_ids")[0].item<std::int64_t>(), 151644);
  at::Tensor probs = reference.at("ref_attn_probs.layer0");
  EXPECT_EQ(probs.sizes(), at::IntArrayRef({4, 97, 97}));
  EXPECT_LT((probs.sum(-1) - 1).abs().max().item<float>(), 1e-5f);  // rows of a softmax sum to 1
  EXPECT_EQ(probs.triu(1).abs().max().item<float>(), 0.0f);         // causal: 0 above the diagonal
}

// Continuous batching in generate() (issue 12, item 6): rows that finish hand their KV-cache slots to
// the next pending (prompt, sample), and the results equal each prompt decoded alone. The KV-cache
// operations it needs (insert_rows, clear_rows, common_invalid_prefix, shift_slots) are tested here on
// hand-made caches whose every value can be checked by eye.
#include <torch/torch.h>

#include <set>

#include "common.h"
#include "illume/data/tasks.h"
#include "illume/infer/generate.h"
#include "illume/infer/vocabulary.h"
#include "illume/io/safetensors_torch.h"
#include "illume/model/model.h"
#include "illume/text/tokenizer.h"
#include "illume/util/build_paths.h"

using namespace illume;
namespace fs = std::filesystem;

namespace {

// A one-layer cache, one KV head of width 1: keys[0][row, 0, slot, 0] = base + 10 * row + slot and
// values the negatives, so where every slot came from can be read off. valid_from[row]: the first
// valid slot of the row (slots before it are padding).
KVCache hand_cache(std::int64_t capacity, std::int64_t length, const std::vector<std::int64_t>& valid_from,
                   const std::vector<std::int64_t>& next_position, float base) {
  const auto B = static_cast<std::int64_t>(valid_from.size());
  KVCache cache;
  auto slots = torch::arange(capacity, torch::kFloat).view({1, capacity});
  auto rows = torch::arange(B, torch::kFloat).view({B, 1}) * 10;
  auto keys = (slots + rows + base).view({B, 1, capacity, 1});
  cache.keys.push_back(keys.clone());
  cache.values.push_back((-keys).clone());
  cache.key_valid = torch::zeros({B, capacity}, torch::kBool);
  for (std::int64_t r = 0; r < B; ++r) cache.key_valid[r].narrow(0, valid_from[r], length - valid_from[r]).fill_(true);
  cache.next_position = torch::tensor(next_position, torch::kLong);
  cache.length = length;
  cache.capacity = capacity;
  return cache;
}

// key_valid of one row as a string of 0/1 per slot, e.g. "00111000".
std::string valid_of(const KVCache& cache, std::int64_t row) {
  std::string s;
  for (std::int64_t t = 0; t < cache.capacity; ++t) s += cache.key_valid[row][t].item<bool>() ? '1' : '0';
  return s;
}

// keys of one row over slots [begin, end).
std::vector<float> keys_of(const KVCache& cache, std::int64_t row, std::int64_t begin, std::int64_t end) {
  std::vector<float> out;
  for (std::int64_t t = begin; t < end; ++t) out.push_back(cache.keys[0][row][0][t][0].item<float>());
  return out;
}

at::Tensor index(std::vector<std::int64_t> v) { return torch::tensor(v, torch::kLong); }

}  // namespace

TEST(ModelKvCache, InsertRowsRightAlignsTheSourceAtTheSharedLength) {
  // Three rows of 8 slots, 5 used: row 0 from slot 0, row 1 from 2, row 2 from 1.
  auto cache = hand_cache(8, 5, {0, 2, 1}, {5, 3, 4}, 0);
  // Two prefilled prompts of 3 slots: source row 0 is left-padded by one (2 tokens), row 1 full.
  auto source = hand_cache(3, 3, {1, 0}, {2, 3}, 100);
  cache.insert_rows(index({2, 0}), source, index({1, 0}));
  EXPECT_EQ(cache.length, 5);
  EXPECT_EQ(cache.capacity, 8);
  // Row 0 took source row 0 at slots 2..4 (its padding slot 2 invalid), row 2 source row 1.
  EXPECT_EQ(valid_of(cache, 0), "00011000");
  EXPECT_EQ(valid_of(cache, 1), "00111000");
  EXPECT_EQ(valid_of(cache, 2), "00111000");
  EXPECT_EQ(keys_of(cache, 0, 2, 5), (std::vector<float>{100, 101, 102}));
  EXPECT_EQ(keys_of(cache, 2, 2, 5), (std::vector<float>{110, 111, 112}));
  EXPECT_EQ(cache.values[0][2][0][4][0].item<float>(), -112);
  EXPECT_EQ(keys_of(cache, 1, 0, 5), (std::vector<float>{10, 11, 12, 13, 14}));  // untouched
  EXPECT_EQ(cache.next_position[0].item<std::int64_t>(), 2);
  EXPECT_EQ(cache.next_position[1].item<std::int64_t>(), 3);
  EXPECT_EQ(cache.next_position[2].item<std::int64_t>(), 3);
  // A source longer than the used slots does not fit.
  auto long_source = hand_cache(6, 6, {0}, {6}, 100);
  EXPECT_ERROR_CONTAINS(cache.insert_rows(index({1}), long_source, index({0})), "does not fit before slot 5");
}

TEST(ModelKvCache, ClearRowsLeavesNoValidSlot) {
  auto cache = hand_cache(6, 4, {0, 1}, {4, 3}, 0);
  cache.clear_rows(index({1}));
  EXPECT_EQ(valid_of(cache, 0), "111100");
  EXPECT_EQ(valid_of(cache, 1), "000000");
  EXPECT_EQ(cache.next_position[1].item<std::int64_t>(), 0);
  EXPECT_EQ(cache.common_invalid_prefix(), 0);
  cache.clear_rows(index({0}));
  EXPECT_EQ(cache.common_invalid_prefix(), 4) << "no row uses any slot";
}

TEST(ModelKvCache, ShiftLeftDropsTheSlotsNoRowUses) {
  // Row 0 from slot 3, row 1 from slot 2: slots 0 and 1 are unused by every row.
  auto cache = hand_cache(8, 6, {3, 2}, {3, 4}, 0);
  EXPECT_EQ(cache.common_invalid_prefix(), 2);
  cache.shift_slots(-2, 8);
  EXPECT_EQ(cache.length, 4);
  EXPECT_EQ(cache.capacity, 8);
  EXPECT_EQ(valid_of(cache, 0), "01110000");
  EXPECT_EQ(valid_of(cache, 1), "11110000");
  EXPECT_EQ(keys_of(cache, 0, 1, 4), (std::vector<float>{3, 4, 5}));
  EXPECT_EQ(keys_of(cache, 1, 0, 4), (std::vector<float>{12, 13, 14, 15}));
  EXPECT_EQ(cache.values[0][1][0][0][0].item<float>(), -12);
  EXPECT_EQ(cache.next_position[0].item<std::int64_t>(), 3) << "positions do not move with the slots";
  EXPECT_EQ(cache.common_invalid_prefix(), 0);
  EXPECT_ERROR_CONTAINS(cache.shift_slots(-1, 8), "would drop used slots");
  EXPECT_ERROR_CONTAINS(cache.shift_slots(0, 3), "does not fit 3 slots");
}

TEST(ModelKvCache, ShiftRightMakesRoomInFrontAndGrows) {
  auto cache = hand_cache(4, 3, {0, 1}, {3, 2}, 0);
  cache.shift_slots(2, 7);
  EXPECT_EQ(cache.length, 5);
  EXPECT_EQ(cache.capacity, 7);
  EXPECT_EQ(cache.keys[0].size(2), 7);
  EXPECT_EQ(valid_of(cache, 0), "0011100");
  EXPECT_EQ(valid_of(cache, 1), "0001100");
  EXPECT_EQ(keys_of(cache, 0, 2, 5), (std::vector<float>{0, 1, 2}));
  EXPECT_EQ(keys_of(cache, 1, 3, 5), (std::vector<float>{11, 12}));
  EXPECT_EQ(keys_of(cache, 0, 0, 2), (std::vector<float>{0, 0})) << "new slots hold zeros (finite under the mask)";
  EXPECT_EQ(cache.common_invalid_prefix(), 2);
}

// A row inserted into a running cache decodes exactly as the prompt alone: the K/V written by
// insert_rows, the shared length and the row's own positions fit together.
TEST(ModelKvCache, DecodeAfterInsertEqualsThePromptAlone) {
  Json j = {{"model_type", "qwen3"}, {"vocab_size", 61}, {"hidden_size", 32}, {"intermediate_size", 64},
            {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 16},
            {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0}, {"tie_word_embeddings", true}};
  auto model = Model::random(ModelConfig::from_json(j, "test-config"), 3);
  auto gen = at::detail::createCPUGenerator(5);
  auto running = torch::randint(0, 61, {2, 9}, gen, torch::kLong);
  auto prompt = torch::randint(0, 61, {1, 4}, gen, torch::kLong);
  auto next = torch::randint(0, 61, {1}, gen, torch::kLong);
  // Alone: prefill the prompt, decode one token.
  auto alone_cache = model.new_cache(1, 8);
  model.prefill(alone_cache, prompt, torch::ones_like(prompt));
  auto alone = model.decode(alone_cache, next);
  // Continuous: two rows have run 9 slots; row 1 is replaced by the prompt, then both decode.
  auto cache = model.new_cache(2, 12);
  model.prefill(cache, running, torch::ones_like(running));
  auto source = model.new_cache(1, 4);
  model.prefill(source, prompt, torch::ones_like(prompt));
  cache.insert_rows(index({1}), source, index({0}));
  EXPECT_EQ(valid_of(cache, 1), "000001111000");
  EXPECT_EQ(cache.next_position[1].item<std::int64_t>(), 4);
  auto both = model.decode(cache, torch::cat({running.select(1, 8).narrow(0, 0, 1), next}));
  EXPECT_LT((both[1] - alone[0]).abs().max().item<double>(), 1e-5);
  // Compacting (slots 0..4 now serve only row 0: nothing to drop) and moving right keep the result.
  EXPECT_EQ(cache.common_invalid_prefix(), 0);
  cache.clear_rows(index({0}));
  EXPECT_EQ(cache.common_invalid_prefix(), 5);
  cache.shift_slots(-5, 12);
  EXPECT_EQ(cache.length, 5);
  auto third = torch::randint(0, 61, {2}, gen, torch::kLong);
  auto after = model.decode(cache, third);
  auto alone_after = model.decode(alone_cache, third.narrow(0, 1, 1));
  EXPECT_LT((after[1] - alone_after[0]).abs().max().item<double>(), 1e-5);
}

namespace {

fs::path default_model_dir() { return fs::path(::illume::build::source_dir()) / "models" / "illume-countdown-tiny"; }

// The shared fixture folder, or a failure naming the path (these tests are never skipped).
#define REQUIRE_EXISTING(path)                                                                   \
  ASSERT_TRUE(fs::exists(path)) << "this test needs " << (path) << " (../shared), which is absent"

// Every sample of every prompt decoded alone: generate() on that one prompt with one row, one sample at
// a time, at the prompt's own index in the random streams (first_prompt_index), so sampled runs are
// comparable too.
std::vector<Completion> each_alone(const Model& model, const std::vector<std::vector<std::int32_t>>& prompts,
                                   SamplingOptions o, const Detokenizer& detokenize = nullptr) {
  std::vector<Completion> out;
  for (std::size_t p = 0; p < prompts.size(); ++p) {
    auto one = o;
    one.max_batch_rows = 1;
    one.first_prompt_index = o.first_prompt_index + p;
    for (auto& c : generate(model, {prompts[p]}, one, detokenize)) {
      c.prompt_index = p;
      out.push_back(std::move(c));
    }
  }
  return out;
}

void expect_same(const std::vector<Completion>& got, const std::vector<Completion>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(what + ", completion " + std::to_string(i));
    EXPECT_EQ(got[i].prompt_index, want[i].prompt_index);
    EXPECT_EQ(got[i].sample_index, want[i].sample_index);
    EXPECT_EQ(got[i].ids, want[i].ids);
    EXPECT_EQ(got[i].finish_reason, want[i].finish_reason);
    EXPECT_EQ(got[i].text, want[i].text);
    ASSERT_EQ(got[i].logprobs.size(), want[i].logprobs.size());
    for (std::size_t t = 0; t < got[i].logprobs.size(); ++t) {
      EXPECT_NEAR(got[i].logprobs[t], want[i].logprobs[t], 1e-4) << "token " << t;
      EXPECT_NEAR(got[i].entropies[t], want[i].entropies[t], 1e-4) << "token " << t;
    }
  }
}

// The log-probs generate() reports equal those of one full forward over prompt + response (no cache),
// over the ids the tokenizer can decode (valid_ids).
void expect_forward_logprobs(const Model& model, const SamplingOptions& o, const std::vector<std::int32_t>& prompt,
                             const Completion& c) {
  std::vector<std::int64_t> all(prompt.begin(), prompt.end());
  all.insert(all.end(), c.ids.begin(), c.ids.end());
  auto ids = torch::tensor(all, torch::kLong).view({1, -1});
  torch::NoGradGuard no_grad;
  auto logits = model.forward(ids, torch::ones_like(ids))[0];  // [T, V]
  auto log_probs = torch::log_softmax(mask_invalid_ids(logits, invalid_id_mask(o.valid_ids, logits.size(1), logits.device())), -1);
  for (std::size_t t = 0; t < c.ids.size(); ++t) {
    const auto position = static_cast<std::int64_t>(prompt.size() + t) - 1;
    EXPECT_NEAR(log_probs[position][c.ids[t]].item<float>(), c.logprobs[t], 1e-4) << "token " << t;
  }
}

// Finish steps of the completions: continuous batching only refills when rows end at different steps.
std::set<std::size_t> lengths_of(const std::vector<Completion>& cs) {
  std::set<std::size_t> out;
  for (const auto& c : cs) out.insert(c.ids.size());
  return out;
}

}  // namespace

TEST(GenerateContinuous, DefaultModelGreedyEqualsEachPromptAlone) {
  REQUIRE_EXISTING(test::shared_path("data/countdown/test.jsonl"));
  auto model = Model::load(default_model_dir());
  auto tokenizer = Tokenizer::from_dir(default_model_dir());
  auto problems = data::load_problems(data::Task::Countdown, test::shared_path("data/countdown/test.jsonl"));
  // Ten puzzles, half of them chat prompts and half plain: prompts of different lengths.
  std::vector<std::vector<std::int32_t>> prompts;
  std::set<std::size_t> prompt_lengths;
  for (std::size_t i = 0; i < 10; ++i) {
    auto style = i % 2 == 0 ? data::PromptStyle::Chat : data::PromptStyle::Plain;
    prompts.push_back(tokenizer.encode(data::prompt_text(data::Task::Countdown, problems.at(i), style), true));
    prompt_lengths.insert(prompts.back().size());
  }
  ASSERT_GE(prompt_lengths.size(), 3u);
  auto o = sampling_options(model.config(), tokenizer);
  o.temperature = 0;
  o.max_new_tokens = 96;
  // "</think>" ends a row early where it appears, at a different step in each response.
  o.stop_strings = {"</think>"};
  auto detokenize = [&](const std::vector<std::int32_t>& ids) { return tokenizer.decode(ids, true); };
  auto alone = each_alone(model, prompts, o, detokenize);
  std::size_t by_stop = 0;
  for (auto& c : alone) by_stop += c.finish_reason != "length";
  EXPECT_GE(by_stop, 3u) << "the reference should have rows that stop early";
  EXPECT_GE(lengths_of(alone).size(), 4u) << "rows should finish at different steps";
  for (std::int64_t rows : {3, 4, 64}) {
    auto one = o;
    one.max_batch_rows = rows;
    expect_same(generate(model, prompts, one, detokenize), alone, "rows " + std::to_string(rows));
  }
  // Several samples per prompt (greedy: every sample is the prompt's one answer), with samples of one
  // prompt split across refills (5 rows, 3 samples).
  auto three = o;
  three.num_samples = 3;
  three.max_batch_rows = 5;
  auto samples = generate(model, prompts, three, detokenize);
  ASSERT_EQ(samples.size(), 30u);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    EXPECT_EQ(samples[i].prompt_index, i / 3);
    EXPECT_EQ(samples[i].sample_index, static_cast<std::int64_t>(i % 3));
    EXPECT_EQ(samples[i].ids, alone[i / 3].ids) << "completion " << i;
    for (std::size_t t = 0; t < samples[i].logprobs.size(); ++t)
      EXPECT_NEAR(samples[i].logprobs[t], alone[i / 3].logprobs[t], 1e-4);
  }
  for (std::size_t p = 0; p < 3; ++p) expect_forward_logprobs(model, o, prompts[p], alone[p]);
}

TEST(GenerateContinuous, DefaultModelSamplingDoesNotDependOnTheBatchRows) {
  auto model = Model::load(default_model_dir());
  auto tokenizer = Tokenizer::from_dir(default_model_dir());
  std::vector<std::vector<std::int32_t>> prompts;
  for (const char* text : {"Using the numbers [3, 5, 7], create an equation that equals 22.",
                           "Numbers: 19 36 55 7. Target 65.", "Use 2 and 9 to make 11", "1 2 3 4"}) {
    prompts.push_back(tokenizer.encode(text, false));
  }
  auto o = sampling_options(model.config(), tokenizer);
  o.temperature = 1.0;
  o.seed = 7;
  o.num_samples = 3;
  o.max_new_tokens = 40;
  o.first_prompt_index = 5;
  o.max_batch_rows = 64;
  auto all_at_once = generate(model, prompts, o);
  EXPECT_GE(lengths_of(all_at_once).size(), 2u) << "rows should finish at different steps";
  for (std::int64_t rows : {1, 2, 5}) {
    auto few = o;
    few.max_batch_rows = rows;
    expect_same(generate(model, prompts, few), all_at_once, "rows " + std::to_string(rows));
  }
  expect_same(each_alone(model, prompts, o), all_at_once, "each prompt alone");
  // Different samples of one prompt differ (their streams differ).
  EXPECT_FALSE(all_at_once[0].ids == all_at_once[1].ids && all_at_once[1].ids == all_at_once[2].ids);
}

TEST(GenerateContinuous, TinyQwen3FixtureGreedyEqualsEachPromptAlone) {
  const auto dir = test::shared_path("fixtures/tiny-qwen3");
  REQUIRE_EXISTING(dir / "reference.safetensors");
  auto model = Model::load(dir);
  auto tokenizer = Tokenizer::from_dir(dir);
  // Prompts: pieces of the fixture's 97 reference ids, of different lengths.
  auto input = load_safetensors(dir / "reference.safetensors").at("input_ids");
  std::vector<std::vector<std::int32_t>> prompts;
  for (auto [begin, length] : std::vector<std::pair<std::int64_t, std::int64_t>>{{0, 3}, {5, 17}, {20, 40}, {60, 1}, {30, 9}, {0, 60}}) {
    std::vector<std::int32_t> p;
    for (std::int64_t t = begin; t < begin + length; ++t) p.push_back(static_cast<std::int32_t>(input[t].item<std::int64_t>()));
    prompts.push_back(p);
  }
  auto o = sampling_options(model.config(), tokenizer);
  o.temperature = 0;
  o.max_new_tokens = 24;
  // Random weights never say EOS: stop at tokens that the free-running responses reach at different steps.
  auto free_running = each_alone(model, prompts, o);
  std::set<std::int32_t> stops;
  for (std::size_t p = 0; p < prompts.size(); p += 2) stops.insert(free_running[p].ids.at(3 + 4 * (p / 2)));
  o.stop_token_ids.insert(o.stop_token_ids.end(), stops.begin(), stops.end());
  auto alone = each_alone(model, prompts, o);
  std::size_t by_stop = 0;
  for (auto& c : alone) by_stop += c.finish_reason == "stop_token";
  EXPECT_GE(by_stop, 2u);
  EXPECT_GE(lengths_of(alone).size(), 3u) << "rows should finish at different steps";
  for (std::int64_t rows : {2, 3, 64}) {
    auto one = o;
    one.max_batch_rows = rows;
    expect_same(generate(model, prompts, one), alone, "rows " + std::to_string(rows));
  }
  auto samples = o;
  samples.num_samples = 2;
  samples.max_batch_rows = 3;
  auto got = generate(model, prompts, samples);
  ASSERT_EQ(got.size(), 2 * prompts.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].ids, alone[i / 2].ids) << "completion " << i;
  for (std::size_t p : {0, 2, 5}) expect_forward_logprobs(model, o, prompts[p], alone[p]);
  // Sampled: the same tokens whatever the batch rows.
  auto sampled = o;
  sampled.temperature = 1.0;
  // Top-k: the random model's distribution is nearly flat over 151936 ids, where the ~1e-6 that other
  // batch shapes change in the logits moves a sample past the next id of the tail now and then.
  sampled.top_k = 50;
  sampled.seed = 11;
  sampled.num_samples = 2;
  sampled.max_batch_rows = 64;
  auto wide = generate(model, prompts, sampled);
  sampled.max_batch_rows = 3;
  expect_same(generate(model, prompts, sampled), wide, "sampled, 3 rows");
}

// Each row stops at the model's last position (max_position_embeddings), whatever the others do.
TEST(GenerateContinuous, EachRowStopsAtTheModelsLastPosition) {
  Json j = {{"model_type", "qwen3"}, {"vocab_size", 61}, {"hidden_size", 32}, {"intermediate_size", 64},
            {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 16},
            {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0}, {"tie_word_embeddings", true},
            {"max_position_embeddings", 24}};
  auto model = Model::random(ModelConfig::from_json(j, "test-config"), 9);
  std::vector<std::vector<std::int32_t>> prompts;
  for (std::int32_t length : {20, 3, 12, 23, 7, 1}) {
    std::vector<std::int32_t> p;
    for (std::int32_t t = 0; t < length; ++t) p.push_back((t * 7 + length) % 61);
    prompts.push_back(p);
  }
  SamplingOptions o;
  o.valid_ids.assign(61, 1);
  o.temperature = 0;
  o.max_new_tokens = 15;
  o.max_batch_rows = 2;
  auto got = generate(model, prompts, o);
  auto alone = each_alone(model, prompts, o);
  for (std::size_t p = 0; p < prompts.size(); ++p) {
    const auto expected = std::min<std::size_t>(15, 24 - prompts[p].size());
    EXPECT_EQ(got[p].ids.size(), expected) << "prompt " << p;
    EXPECT_EQ(got[p].finish_reason, "length");
    EXPECT_EQ(got[p].ids, alone[p].ids) << "prompt " << p;
  }
}

// illume demo: the main job behind `make demo`.
// For now: a generation on ../shared/fixtures/tiny-qwen3 when present (random weights: the text is
// meaningless, the numbers are checked by the tests), else on a self-made tiny model.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>

#include "cli/command.h"
#include "cli/common.h"
#include "illume/infer/generate.h"
#include "illume/text/chat.h"
#include "illume/text/tokenizer.h"
#include "illume/text/tokenizer_builder.h"
#include "illume/util/error.h"
#include "illume/util/file.h"

namespace {

std::filesystem::path default_shared() { return std::filesystem::path(ILLUME_SOURCE_DIR) / ".." / "shared"; }

void setup(CLI::App& app) {
  struct Flags {
    std::string shared = default_shared().string();
    std::string out = "runs/demo";
    std::int64_t max_new_tokens = 32;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("demo", "Run the main job: a generation on the tiny Qwen3 fixture (or a self-made model)");
  cmd->add_option("--shared", f->shared, "the shared folder with fixtures/ and data/")->capture_default_str();
  cmd->add_option("--out", f->out, "output folder")->capture_default_str();
  cmd->add_option("--max-new-tokens", f->max_new_tokens, "tokens to generate")->capture_default_str();
  cmd->callback([f] {
    auto fixture = std::filesystem::path(f->shared) / "fixtures" / "tiny-qwen3";
    std::filesystem::path model_dir;
    if (std::filesystem::exists(fixture / "config.json")) {
      model_dir = fixture;
      std::printf("demo: model %s (Qwen3 architecture, random weights: the text is noise; the numerics match a "
                  "float64 reference to 1e-4)\n", model_dir.string().c_str());
    } else {
      // No fixture: make a tiny random Qwen3 with a byte-level tokenizer and load it back through the
      // same Hugging Face loader.
      model_dir = std::filesystem::path(f->out) / "self-made-tiny";
      std::printf("demo: %s is absent; using a self-made tiny random Qwen3 model in %s\n", fixture.string().c_str(),
                  model_dir.string().c_str());
      illume::write_tokenizer_files(model_dir, {}, illume::TokenizerSpec{});
      auto vocab = illume::Tokenizer::from_dir(model_dir).vocab_size();
      illume::Json config = {{"model_type", "qwen3"}, {"vocab_size", vocab}, {"hidden_size", 64},
                             {"intermediate_size", 128}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
                             {"num_key_value_heads", 2}, {"head_dim", 16}, {"rms_norm_eps", 1e-6},
                             {"rope_theta", 10000.0}, {"tie_word_embeddings", true}};
      illume::Model::random(illume::ModelConfig::from_json(config, "demo config"), 0).save(model_dir);
    }
    auto tokenizer = illume::Tokenizer::from_dir(model_dir);
    auto model = illume::Model::load(model_dir);
    std::string question = "Janet has 16 eggs and eats 3. How many are left?";
    auto gsm8k = std::filesystem::path(f->shared) / "data" / "gsm8k" / "test.jsonl";
    if (std::filesystem::exists(gsm8k)) {
      auto text = illume::read_file(gsm8k);
      question = illume::parse_json(text.substr(0, text.find('\n')), gsm8k.string())["question"].get<std::string>();
    }
    std::vector<illume::ChatMessage> messages = {
        {"system", "Please reason step by step, and put your final answer within \\boxed{}."}, {"user", question}};
    auto prompt = tokenizer.encode(illume::format_chat(messages, true, false), true, "demo prompt");
    illume::SamplingOptions o;
    o.temperature = 0;
    o.max_new_tokens = f->max_new_tokens;
    o.stop_token_ids = illume::cli::default_stop_tokens(model.config(), tokenizer);
    auto t0 = std::chrono::steady_clock::now();
    auto out = illume::generate(model, {prompt}, o, [&](const std::vector<std::int32_t>& ids) {
      return tokenizer.decode(ids, true);
    });
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("prompt (%zu tokens): %s\n", prompt.size(), question.c_str());
    std::printf("greedy continuation (%zu tokens, %.1f tok/s):\n%s\n", out[0].ids.size(),
                out[0].ids.size() / std::max(seconds, 1e-9), out[0].text.c_str());
  });
}
ILLUME_COMMAND(setup);

}  // namespace

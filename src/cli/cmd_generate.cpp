// illume generate: batched sampling from a Hugging Face checkpoint.
#include <cstdio>

#include "cli/command.h"
#include "cli/common.h"
#include "cli/prompt_input.h"
#include "illume/infer/generate.h"
#include "illume/util/error.h"
#include "illume/util/json.h"

namespace {

void setup(CLI::App& app) {
  struct Flags {
    illume::cli::ModelFlags model;
    illume::cli::PromptInputFlags input;  // --prompts | --task --data, --chat, --system, --no-thinking
    std::string prompt, out;
    std::int64_t limit = 0;
    illume::SamplingOptions sampling;
    bool greedy = false;
  };
  auto f = std::make_shared<Flags>();
  f->sampling.temperature = 0.7;
  f->sampling.max_new_tokens = 128;
  f->sampling.show_progress = true;
  auto* cmd = app.add_subcommand("generate", "Sample continuations of prompts (batched, KV cache)");
  f->model.add_to(cmd);
  auto* p1 = cmd->add_option("--prompt", f->prompt, "one prompt text");
  auto* p2 = f->input.add_to(cmd, /*with_thinking_flag=*/true);
  p1->excludes(p2);
  p1->excludes(cmd->get_option("--task"));
  cmd->add_option("--limit", f->limit, "use only the first N prompts of the file (0 = all)")->capture_default_str();
  cmd->add_option("-n,--num-samples", f->sampling.num_samples, "samples per prompt")->capture_default_str();
  cmd->add_option("--temperature", f->sampling.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-p", f->sampling.top_p, "nucleus sampling mass")->capture_default_str();
  cmd->add_option("--top-k", f->sampling.top_k, "0 = off")->capture_default_str();
  cmd->add_flag("--greedy", f->greedy, "argmax decoding (same as --temperature 0)");
  cmd->add_option("--seed", f->sampling.seed, "random seed")->capture_default_str();
  cmd->add_option("--max-new-tokens", f->sampling.max_new_tokens, "tokens to generate at most")->capture_default_str();
  cmd->add_option("--stop", f->sampling.stop_strings, "stop string (repeatable); EOS and <|im_end|> always stop");
  cmd->add_option("--batch-rows", f->sampling.max_batch_rows, "sequences decoded together at most")->capture_default_str();
  cmd->add_option("--out", f->out, "write JSONL (text, ids, logprobs, entropies) here instead of printing text");
  cmd->callback([f] {
    if (f->prompt.empty() && !f->input.given())
      illume::fail("generate: give --prompt, --prompts F.jsonl or --task TASK --data F.jsonl");
    f->input.validate();
    if (f->limit < 0) illume::fail("--limit {}: must be >= 0", f->limit);
    if (f->greedy) f->sampling.temperature = 0;
    auto tokenizer = f->model.load_tokenizer();
    illume::EncodedPrompts prompts;
    if (f->input.given()) {
      prompts = f->input.load(tokenizer, f->limit);  // before the model loads
    } else {
      prompts.ids.push_back(illume::encode_prompt(tokenizer, f->prompt, f->input.prompt_format(), "--prompt"));
      prompts.texts.push_back(f->prompt);
    }
    auto model = f->model.load_model();
    const auto defaults = illume::sampling_options(model.config(), tokenizer);
    f->sampling.stop_token_ids = defaults.stop_token_ids;
    f->sampling.valid_ids = defaults.valid_ids;
    auto detokenize = [&tokenizer](const std::vector<std::int32_t>& ids) { return tokenizer.decode(ids, true); };
    auto completions = illume::generate(model, prompts.ids, f->sampling, detokenize);
    if (!f->out.empty()) {
      illume::JsonlWriter writer(f->out);
      for (auto& c : completions) {
        writer.write({{"prompt_index", c.prompt_index},
                      {"sample_index", c.sample_index},
                      {"prompt", prompts.texts[c.prompt_index]},
                      {"response", c.text},
                      {"response_ids", c.ids},
                      {"logprobs", c.logprobs},
                      {"entropies", c.entropies},
                      {"finish_reason", c.finish_reason}});
      }
      writer.commit();
      std::fprintf(stderr, "generate: wrote %zu completions to %s\n", completions.size(), f->out.c_str());
    } else {
      for (auto& c : completions) {
        if (completions.size() > 1)
          std::printf("--- prompt %zu, sample %lld (%s)\n", c.prompt_index, static_cast<long long>(c.sample_index),
                      c.finish_reason.c_str());
        std::fwrite(c.text.data(), 1, c.text.size(), stdout);
        std::fputc('\n', stdout);
      }
    }
  });
}
ILLUME_COMMAND(setup);

}  // namespace

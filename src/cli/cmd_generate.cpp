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
    illume::cli::PromptInputFlags input;  // --prompts | --task --data, --chat | --plain, --system, --no-thinking
    illume::cli::SamplingFlags sampling;  // -n, --temperature, --top-p, --top-k, --greedy, --seed, --max-*
    std::string prompt, out;
    std::int64_t limit = 0;
    std::vector<std::string> stop_strings;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("generate", "Sample continuations of prompts (batched, KV cache)");
  f->model.add_to(cmd);
  auto* p1 = cmd->add_option("--prompt", f->prompt, "one prompt text");
  auto* p2 = f->input.add_to(cmd);
  p1->excludes(p2);
  p1->excludes(cmd->get_option("--task"));
  cmd->add_option("--limit", f->limit, "use only the first N prompts of the file (0 = all)")
      ->check(illume::cli::non_negative_integer())
      ->capture_default_str();
  f->sampling.add_to(cmd);
  illume::cli::add_deprecated_alias(cmd, "--batch-rows", f->sampling.max_batch_rows, cmd->get_option("--max-batch-rows"),
                                    illume::cli::integer_range(1, std::int64_t{1} << 20));
  cmd->add_option("--stop", f->stop_strings, "stop string (repeatable); EOS and <|im_end|> always stop");
  cmd->add_option("--out", f->out, "write JSONL (text, ids, logprobs, entropies) here instead of printing text");
  cmd->callback([f] {
    if (f->prompt.empty() && !f->input.given())
      illume::fail("generate: give --prompt, --prompts F.jsonl or --task TASK --data F.jsonl");
    f->input.validate();
    f->input.resolve(f->model.model_dir);
    auto tokenizer = f->model.load_tokenizer();
    illume::EncodedPrompts prompts;
    if (f->input.given()) {
      prompts = f->input.load(tokenizer, f->limit);  // before the model loads
    } else {
      prompts.ids.push_back(illume::encode_prompt(tokenizer, f->prompt, f->input.prompt_format(), "--prompt"));
      prompts.texts.push_back(f->prompt);
    }
    auto model = f->model.load_model();
    auto sampling = illume::sampling_options(model.config(), tokenizer);  // stop tokens, valid ids
    f->sampling.apply(sampling);
    sampling.stop_strings = f->stop_strings;
    sampling.show_progress = true;
    auto detokenize = [&tokenizer](const std::vector<std::int32_t>& ids) { return tokenizer.decode(ids, true); };
    auto completions = illume::generate(model, prompts.ids, sampling, detokenize);
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

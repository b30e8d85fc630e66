// illume generate: batched sampling from a Hugging Face checkpoint.
#include <torch/torch.h>

#include <cstdio>

#include "cli/command.h"
#include "cli/common.h"
#include "illume/infer/generate.h"
#include "illume/text/chat.h"
#include "illume/util/error.h"
#include "illume/util/json.h"

namespace {

struct Prompt {
  std::string text;    // as given
  std::string system;  // optional, per prompt (JSONL) or --system
};

void setup(CLI::App& app) {
  struct Flags {
    illume::cli::ModelFlags model;
    std::string prompt, prompts_file, out, system;
    bool chat = false, no_thinking = false;
    illume::SamplingOptions sampling;
    std::vector<std::string> stops;
    bool greedy = false;
  };
  auto f = std::make_shared<Flags>();
  f->sampling.temperature = 0.7;
  f->sampling.max_new_tokens = 128;
  auto* cmd = app.add_subcommand("generate", "Sample continuations of prompts (batched, KV cache)");
  f->model.add_to(cmd);
  auto* p1 = cmd->add_option("--prompt", f->prompt, "one prompt text");
  auto* p2 = cmd->add_option("--prompts", f->prompts_file, "JSONL file, one {\"prompt\": TEXT[, \"system\": TEXT]} per line");
  p1->excludes(p2);
  cmd->add_flag("--chat", f->chat, "wrap prompts in the model's chat format (Qwen ChatML) with the generation prompt");
  cmd->add_option("--system", f->system, "system message (with --chat; otherwise prepended as plain text)");
  cmd->add_flag("--no-thinking", f->no_thinking, "with --chat: add the empty think block (enable_thinking=false)");
  cmd->add_option("-n,--num-samples", f->sampling.num_samples, "samples per prompt")->capture_default_str();
  cmd->add_option("--temperature", f->sampling.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-p", f->sampling.top_p, "nucleus sampling mass")->capture_default_str();
  cmd->add_option("--top-k", f->sampling.top_k, "0 = off")->capture_default_str();
  cmd->add_flag("--greedy", f->greedy, "argmax decoding (same as --temperature 0)");
  cmd->add_option("--seed", f->sampling.seed, "random seed")->capture_default_str();
  cmd->add_option("--max-new-tokens", f->sampling.max_new_tokens, "tokens to generate at most")->capture_default_str();
  cmd->add_option("--stop", f->stops, "stop string (repeatable); EOS and <|im_end|> always stop");
  cmd->add_option("--batch-rows", f->sampling.max_batch_rows, "sequences decoded together at most")->capture_default_str();
  cmd->add_option("--out", f->out, "write JSONL (text, ids, logprobs, entropies) here instead of printing text");
  cmd->callback([f] {
    std::vector<Prompt> prompts;
    if (!f->prompt.empty()) {
      prompts.push_back({f->prompt, f->system});
    } else if (!f->prompts_file.empty()) {
      auto rows = illume::read_jsonl_file(f->prompts_file);
      for (std::size_t i = 0; i < rows.size(); ++i) {
        std::string src = f->prompts_file + ": row " + std::to_string(i + 1);
        prompts.push_back({illume::json_get<std::string>(rows[i], "prompt", src),
                           illume::json_get_or<std::string>(rows[i], "system", f->system, src)});
      }
      if (prompts.empty()) illume::fail("{}: no prompts", f->prompts_file);
    } else {
      illume::fail("generate: give --prompt or --prompts");
    }
    if (f->greedy) f->sampling.temperature = 0;
    auto tokenizer = f->model.load_tokenizer();
    auto model = f->model.load_model();
    std::vector<std::vector<std::int32_t>> prompt_ids;
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      std::string source = f->prompts_file.empty() ? "--prompt" : f->prompts_file + ": row " + std::to_string(i + 1);
      tokenizer.encode(prompts[i].text, false, source);  // validates UTF-8, naming the source
      if (f->chat) {
        std::vector<illume::ChatMessage> messages;
        if (!prompts[i].system.empty()) messages.push_back({"system", prompts[i].system});
        messages.push_back({"user", prompts[i].text});
        prompt_ids.push_back(tokenizer.encode(illume::format_chat(messages, true, !f->no_thinking), true, source));
      } else {
        std::string text = prompts[i].system.empty() ? prompts[i].text : prompts[i].system + "\n\n" + prompts[i].text;
        prompt_ids.push_back(tokenizer.encode(text, false, source));
      }
      if (prompt_ids.back().empty()) illume::fail("{}: the prompt is empty", source);
    }
    f->sampling.stop_token_ids = illume::cli::default_stop_tokens(model.config(), tokenizer);
    f->sampling.valid_ids = illume::sampling_options(model.config(), tokenizer).valid_ids;
    f->sampling.stop_strings = f->stops;
    f->sampling.show_progress = true;
    auto detok = [&tokenizer](const std::vector<std::int32_t>& ids) { return tokenizer.decode(ids, true); };
    auto completions = illume::generate(model, prompt_ids, f->sampling, detok);
    if (!f->out.empty()) {
      illume::JsonlWriter writer(f->out);
      for (auto& c : completions) {
        writer.write({{"prompt_index", c.prompt_index},
                      {"sample_index", c.sample_index},
                      {"prompt", prompts[c.prompt_index].text},
                      {"response", c.text},
                      {"response_ids", c.ids},
                      {"logprobs", c.logprobs},
                      {"entropies", c.entropies},
                      {"finish_reason", c.finish_reason}});
      }
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

// Where the prompts of generate, analyze and perturb come from, and how they are recorded:
//   --prompts F.jsonl          a plain prompt file (text/prompt.h), in the --chat/--system format
//   --task T --data F.jsonl    a task's own data file, prompted as train and eval prompt it
//                              (data/task_prompts.h): no default system line (a command's default
//                              --system, the paper's \boxed{} line, is for prompt files only; an
//                              explicit --system is added)
#pragma once
#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

#include "cli/common.h"
#include "illume/text/prompt.h"
#include "illume/text/tokenizer.h"
#include "illume/util/json.h"

namespace illume::cli {

struct PromptInputFlags {
  std::string prompts, task, data;
  PromptFlags format;  // --chat | --plain, --system, --no-thinking; set format.system first for a default
  // Adds --prompts, --task, --data and the format flags. Returns the --prompts option (for excludes).
  CLI::Option* add_to(CLI::App* cmd);
  bool given() const { return !prompts.empty() || !task.empty(); }
  // Settles --chat/--plain against the model folder's recorded style (PromptFlags::resolve); call it
  // before prompt_format, load or settings_json.
  void resolve(const std::filesystem::path& model_dir) { format.resolve(model_dir); }
  // The format prompts are encoded in: a task without an explicit --system gets none.
  PromptFormat prompt_format() const;
  // Fails on an unknown task name (before any model loads).
  void validate() const;
  // The prompts (limit > 0: the first `limit`).
  EncodedPrompts load(const Tokenizer& tokenizer, std::int64_t limit = 0) const;
  // The prompt settings for summary.json, perturb.json and the report header: task and data, or
  // prompts; prompt_format (chat | plain) and where it came from (prompt_format_source), system, thinking.
  Json settings_json() const;

 private:
  CLI::Option* system_option_ = nullptr;
};

}  // namespace illume::cli

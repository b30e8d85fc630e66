#include "cli/prompt_input.h"

#include "illume/data/task_prompts.h"
#include "illume/data/tasks.h"

namespace illume::cli {

CLI::Option* PromptInputFlags::add_to(CLI::App* cmd) {
  auto* file = cmd->add_option("--prompts", prompts,
                               "JSONL of prompts ({\"prompt\"|\"question\"|\"problem\": TEXT[, \"system\": TEXT]})");
  auto* task_option = cmd->add_option("--task", task,
                                      "build prompts from a task's data file with the task's own template "
                                      "(as train and eval): " + data::task_names() + "; needs --data");
  auto* data_option = cmd->add_option("--data", data, "the task's problems (JSONL), with --task");
  task_option->needs(data_option);
  data_option->needs(task_option);
  file->excludes(task_option);
  format.add_to(cmd);
  system_option_ = cmd->get_option("--system");
  system_option_->description(
      "system message (with --chat; otherwise a first paragraph before each prompt); the default applies to "
      "--prompts only: --task adds none unless given");
  return file;
}

PromptFormat PromptInputFlags::prompt_format() const {
  auto out = format.format();
  if (!task.empty() && (system_option_ == nullptr || system_option_->count() == 0)) out.system.clear();
  return out;
}

void PromptInputFlags::validate() const {
  if (!task.empty()) data::parse_task(task);
}

EncodedPrompts PromptInputFlags::load(const Tokenizer& tokenizer, std::int64_t limit) const {
  if (!task.empty()) return data::encode_task_prompts(tokenizer, data::parse_task(task), data, prompt_format(), limit);
  return encode_prompt_file(tokenizer, prompts, prompt_format(), limit);
}

Json PromptInputFlags::settings_json() const {
  const auto f = prompt_format();
  Json out = Json::object();
  if (!task.empty()) {
    out["task"] = data::task_name(data::parse_task(task));
    out["data"] = data;
  } else if (!prompts.empty()) {
    out["prompts"] = prompts;
  }
  out["prompt_format"] = f.chat ? "chat" : "plain";
  out["prompt_format_source"] = format.style_source;
  out["system"] = f.system;
  if (f.chat) out["thinking"] = f.enable_thinking;
  return out;
}

}  // namespace illume::cli

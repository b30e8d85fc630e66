// Task prompts for generate, analyze and perturb (data/task_prompts.h): the same text train and eval
// give the model, and no GSM8K \boxed{} system line slipped into other tasks.
#include <string>
#include <vector>

#include "common.h"
#include "illume/data/task_prompts.h"
#include "illume/data/tasks.h"
#include "illume/text/tokenizer.h"
#include "illume/util/file.h"

using namespace illume;
using namespace illume::data;

namespace {

Problem countdown_problem() {
  return problem_from_json(Task::Countdown, Json{{"nums", {19, 36, 55, 7}}, {"target", 65}}, "row", 0);
}

Problem gsm8k_problem() {
  return problem_from_json(Task::Gsm8k, Json{{"question", "How many eggs?"}, {"answer", "so #### 9"}}, "row", 0);
}

}  // namespace

TEST(TaskPrompts, WithoutASystemLineTheyAreTrainAndEvalPrompts) {
  for (bool chat : {true, false}) {
    const auto style = chat ? PromptStyle::Chat : PromptStyle::Plain;
    PromptFormat format{chat, "", true};
    EXPECT_EQ(task_prompt_text(Task::Countdown, countdown_problem(), format),
              prompt_text(Task::Countdown, countdown_problem(), style));
    EXPECT_EQ(task_prompt_text(Task::Gsm8k, gsm8k_problem(), format), prompt_text(Task::Gsm8k, gsm8k_problem(), style));
  }
  // Countdown in chat: the user message only, written out by hand (Qwen3's template, thinking on).
  EXPECT_EQ(task_prompt_text(Task::Countdown, countdown_problem(), {true, "", true}),
            "<|im_start|>user\nUsing the numbers [19, 36, 55, 7], create an equation that equals 65. You can use "
            "basic arithmetic operations (+, -, *, /) and each number can only be used once. Show your work in "
            "<think> </think> tags. And return the final answer in <answer> </answer> tags, for example <answer> "
            "(1 + 2) / 3 </answer>.<|im_end|>\n<|im_start|>assistant\n");
  // GSM8K in chat: the \boxed{} instruction once, in the user message; no system message.
  auto gsm8k = task_prompt_text(Task::Gsm8k, gsm8k_problem(), {true, "", true});
  EXPECT_EQ(gsm8k,
            "<|im_start|>user\nPlease reason step by step, and put your final answer within \\boxed{}.\nHow many "
            "eggs?<|im_end|>\n<|im_start|>assistant\n");
}

TEST(TaskPrompts, AGivenSystemLineAndThinkingSwitch) {
  EXPECT_EQ(task_prompt_text(Task::Countdown, countdown_problem(), {true, "Be brief.", true}),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n" +
                build_prompt(Task::Countdown, countdown_problem(), PromptStyle::Chat) +
                "<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(task_prompt_text(Task::Gsm8k, gsm8k_problem(), {true, "", false}),
            "<|im_start|>user\n" + build_prompt(Task::Gsm8k, gsm8k_problem(), PromptStyle::Chat) +
                "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  EXPECT_EQ(task_prompt_text(Task::Countdown, countdown_problem(), {false, "Be brief.", true}),
            "Be brief.\n\n" + build_prompt(Task::Countdown, countdown_problem(), PromptStyle::Plain));
}

TEST(TaskPrompts, EncodesATaskFile) {
  ILLUME_REQUIRE_SHARED_PATH("data/countdown/test.jsonl");
  ILLUME_REQUIRE_SHARED_PATH("fixtures/tiny-qwen3/tokenizer.json");
  auto tokenizer = Tokenizer::from_dir(test::shared_path("fixtures/tiny-qwen3"));
  const auto path = test::shared_path("data/countdown/test.jsonl");
  auto prompts = encode_task_prompts(tokenizer, Task::Countdown, path, {true, "", true}, 3);
  auto problems = load_problems(Task::Countdown, path);
  ASSERT_EQ(prompts.ids.size(), 3u);
  ASSERT_EQ(prompts.texts.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(prompts.ids[i], tokenizer.encode(prompt_text(Task::Countdown, problems[i], PromptStyle::Chat), true));
    EXPECT_EQ(prompts.texts[i], build_prompt(Task::Countdown, problems[i], PromptStyle::Chat));
  }
  EXPECT_EQ(encode_task_prompts(tokenizer, Task::Countdown, path, {true, "", true}).ids.size(), problems.size());

  auto dir = test::scratch_dir();
  write_file_atomic(dir / "bad.jsonl", "{\"nums\": [1, 2], \"target\": 3}\n{\"nums\": [1]}\n");
  EXPECT_ERROR_CONTAINS(encode_task_prompts(tokenizer, Task::Countdown, dir / "bad.jsonl", {}),
                        "bad.jsonl:2: missing field 'target'");
  write_file_atomic(dir / "empty.jsonl", "\n");
  EXPECT_ERROR_CONTAINS(encode_task_prompts(tokenizer, Task::Countdown, dir / "empty.jsonl", {}), "empty.jsonl");
}

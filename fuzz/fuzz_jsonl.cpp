// The JSONL readers: util/jsonl.cpp's rows with line numbers, the prompt files of generate/analyze
// (text/prompt.cpp) and every task's problem file (data/tasks.cpp). Errors must name the file.
#include "fuzz_common.h"
#include "illume/data/tasks.h"
#include "illume/text/prompt.h"
#include "illume/util/jsonl.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto path = illume::fuzz::input_file(bytes, "rows.jsonl");
  const std::string source = path.string();
  // The rows are read once; the file readers of prompts (read_prompt_rows) and problems
  // (load_problems) are this loop over prompt_row_from_json / problem_from_json. (Parsing under the
  // sanitizers is slow: reading the file ten times would cut the executions tenfold.)
  std::vector<illume::JsonlRow> rows;
  illume::fuzz::expect_clean(source, [&] { rows = illume::read_jsonl_rows(path); });
  std::size_t previous = 0;
  for (const auto& row : rows) {
    if (row.line <= previous) illume::fuzz::finding("line numbers do not increase");
    previous = row.line;
    (void)illume::dump_line(row.value);
  }
  for (const auto& row : rows)
    illume::fuzz::expect_clean(source, [&] { (void)illume::prompt_row_from_json(row.value, illume::row_source(path, row)); });
  using illume::data::Task;
  for (Task task : {Task::Countdown, Task::Gsm8k, Task::Math500, Task::Aime24, Task::Aime25, Task::Amc23,
                    Task::Olympiadbench, Task::MinervaMath}) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      illume::fuzz::expect_clean(source, [&] {
        auto problem = illume::data::problem_from_json(task, rows[i].value, illume::row_source(path, rows[i]), i);
        (void)illume::data::build_prompt(task, problem, illume::data::PromptStyle::Plain);
        (void)illume::data::score_response(task, problem, "<answer>1 + 2</answer> \\boxed{3}");
      });
    }
  }
  return 0;
}

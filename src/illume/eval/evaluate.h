// Evaluation of a model on a task's test set (METHOD.md section 5): k samples per problem (or one
// greedy answer), scored with the task's reward.
//   pass@1 = mean over problems of the first sample's correctness (the greedy answer at temperature 0)
//   avg@k  = mean over problems and samples of correctness (AIME: avg@16)
//   pass@k = share of problems with at least one correct sample
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "illume/data/tasks.h"
#include "illume/model/model.h"
#include "illume/text/tokenizer.h"
#include "illume/util/json.h"

namespace illume::eval {

struct EvalOptions {
  std::int64_t k = 1;              // samples per problem (1 when greedy)
  double temperature = 0.0;        // 0 = greedy
  double top_p = 1.0;
  std::int64_t max_new_tokens = 1024;
  std::int64_t limit = 0;          // first N problems; 0 = all
  bool chat = false;               // chat template around the prompt (else the plain base prompt)
  std::uint64_t seed = 0;
  std::int64_t prompts_per_batch = 16;
  std::vector<std::int32_t> stop_token_ids;
  bool show_progress = true;
};

struct EvalSummary {
  Json summary;                    // pass@1, avg@k, pass@k, counts, settings
  std::vector<Json> per_problem;   // one row per problem
};

EvalSummary evaluate(const Model& model, const Tokenizer& tokenizer, data::Task task,
                     const std::vector<data::Problem>& problems, const EvalOptions& options);

// Writes OUT/results.jsonl and OUT/summary.json (each atomically).
void write_eval(const std::filesystem::path& out_dir, const EvalSummary& result);

}  // namespace illume::eval

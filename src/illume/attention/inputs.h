// The responses an analysis reads (METHOD.md §1-3): each a prompt and a response as token ids, plus
// the prompt as text for the report. They come from a file of given responses or are sampled.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "illume/attention/analysis.h"
#include "illume/infer/generate.h"
#include "illume/model/model.h"
#include "illume/text/prompt.h"
#include "illume/text/tokenizer.h"

namespace illume {

struct ResponseInputs {
  std::vector<ResponseInput> responses;
  std::vector<std::string> prompt_texts;  // one per response
};

// Given responses, one JSONL object a line, either
//   {"prompt": TEXT, "response": TEXT}               the prompt encoded in `format`, the response as is
//   {"prompt_ids": [...], "response_ids": [...]}     ids as given; a "prompt" beside them must encode to
//                                                    prompt_ids (a check that `format` matches)
// limit > 0 keeps the first `limit` rows. Every id must lie in [0, vocab_size). Fails naming
// "PATH:LINE" on a bad row, an empty response or an id outside the vocabulary; "PATH: no responses"
// when there are none.
ResponseInputs load_response_inputs(const std::filesystem::path& path, const Tokenizer& tokenizer,
                                    const PromptFormat& format, std::int64_t vocab_size, std::int64_t limit = 0);

// Samples sampling.num_samples responses to each prompt and keeps the non-empty ones (a response of no
// tokens has no attention rows to measure). Fails when every response is empty.
ResponseInputs sample_response_inputs(const Model& model, const EncodedPrompts& prompts,
                                      const SamplingOptions& sampling);

}  // namespace illume

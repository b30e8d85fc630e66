#include "illume/attention/inputs.h"

#include "illume/util/error.h"
#include "illume/util/jsonl.h"

namespace illume {

namespace {

std::vector<std::int32_t> id_list(const Json& row, const char* key, const std::string& source) {
  auto it = row.find(key);
  std::vector<std::int32_t> ids;
  if (it == row.end() || !json_convert(*it, ids))
    fail("{}: '{}' must be a list of token ids (integers in [0, 2147483647])", source, key);
  return ids;
}

}  // namespace

ResponseInputs load_response_inputs(const std::filesystem::path& path, const Tokenizer& tokenizer,
                                    const PromptFormat& format, std::int64_t vocab_size, std::int64_t limit) {
  ResponseInputs out;
  for (const auto& row : read_jsonl_rows(path)) {
    if (limit > 0 && static_cast<std::int64_t>(out.responses.size()) >= limit) break;
    const auto source = row_source(path, row);
    const Json& value = row.value;
    if (!value.is_object()) fail("{}: expected a JSON object, found {}", source, value.type_name());
    ResponseInput in;
    if (value.contains("prompt_ids")) {
      in.prompt_ids = id_list(value, "prompt_ids", source);
      in.response_ids = id_list(value, "response_ids", source);
      check_ids_in_vocabulary(in.prompt_ids, vocab_size, source);
      if (value.contains("prompt") && value["prompt"].is_string()) {
        auto prompt = value["prompt"].get<std::string>();
        if (encode_prompt(tokenizer, prompt, format, source) != in.prompt_ids)
          fail("{}: 'prompt_ids' do not match the tokens of 'prompt' (check --chat and --system)", source);
        out.prompt_texts.push_back(std::move(prompt));
      } else {
        out.prompt_texts.push_back(tokenizer.decode(known_ids(in.prompt_ids, tokenizer.vocab_size())));
      }
    } else {
      auto prompt = json_get<std::string>(value, "prompt", source);
      auto response = json_get<std::string>(value, "response", source);
      in.prompt_ids = encode_prompt(tokenizer, prompt, format, source);
      in.response_ids = tokenizer.encode(response, /*parse_special=*/false, source);
      out.prompt_texts.push_back(std::move(prompt));
    }
    if (in.response_ids.empty()) fail("{}: the response is empty", source);
    check_ids_in_vocabulary(in.prompt_ids, vocab_size, source);
    check_ids_in_vocabulary(in.response_ids, vocab_size, source);
    out.responses.push_back(std::move(in));
  }
  if (out.responses.empty()) fail("{}: no responses", path.string());
  return out;
}

ResponseInputs sample_response_inputs(const Model& model, const EncodedPrompts& prompts,
                                      const SamplingOptions& sampling) {
  check(prompts.ids.size() == prompts.texts.size(), "sample_response_inputs: {} prompts but {} texts",
        prompts.ids.size(), prompts.texts.size());
  if (prompts.ids.empty()) fail("analysis: no prompts to answer");
  ResponseInputs out;
  for (auto& completion : generate(model, prompts.ids, sampling)) {
    if (completion.ids.empty()) continue;
    out.responses.push_back({prompts.ids[completion.prompt_index], std::move(completion.ids)});
    out.prompt_texts.push_back(prompts.texts[completion.prompt_index]);
  }
  if (out.responses.empty()) fail("analysis: every sampled response was empty");
  return out;
}

}  // namespace illume

// Flags and helpers shared by the subcommands.
#pragma once
#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "illume/infer/generate.h"
#include "illume/model/model.h"
#include "illume/text/tokenizer.h"

namespace illume::cli {

struct ModelFlags {
  std::string model_dir;
  std::string device = "cpu";
  std::string dtype = "f32";
  void add_to(CLI::App* cmd, bool with_compute_flags = true);
  Model load_model() const;
  Tokenizer load_tokenizer() const;
};

// "1,2,3" or "1 2 3" -> ids; `source` names the flag or file in errors.
std::vector<std::int32_t> parse_id_list(const std::string& text, const std::string& source);

// Ids must lie in [0, vocab): "SOURCE: id 999999 is outside the vocabulary (size N)".
void check_ids_in_vocabulary(const std::vector<std::int32_t>& ids, std::int64_t vocab, const std::string& source);

// Stop tokens for generation (infer/generate.h).
using illume::default_stop_tokens;

}  // namespace illume::cli

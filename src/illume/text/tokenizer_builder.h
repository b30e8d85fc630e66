// Builds small byte-level BPE tokenizers as standard Hugging Face tokenizer.json files, so that the
// same loader (Tokenizer) serves them: used for illume's own tiny default model and self-made demo
// models. Merges are learned from a corpus (classic BPE: repeatedly merge the most frequent pair).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "illume/util/json.h"

namespace illume {

struct TokenizerSpec {
  // Special added tokens (ids right after the BPE vocabulary, in this order).
  std::vector<std::string> special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  // Non-special added tokens, matched before BPE like Qwen3's <think> (e.g. "<think>", "</think>").
  std::vector<std::string> added_tokens = {"<think>", "</think>"};
  std::string eos_token = "<|im_end|>";
  std::string pad_token = "<|endoftext|>";
  std::int64_t num_merges = 0;  // learned from the corpus; 0 = bytes only
};

// tokenizer.json: NFC normaliser, Qwen's Split regex + ByteLevel pre-tokeniser, BPE model, ByteLevel
// decoder. Deterministic for a given corpus and spec (ties between pairs break by their token ids).
Json build_byte_level_tokenizer(const std::vector<std::string>& corpus, const TokenizerSpec& spec);
// tokenizer_config.json with eos/pad tokens (and the ChatML template name for reference).
Json build_tokenizer_config(const TokenizerSpec& spec);
// Writes both files into DIR atomically.
void write_tokenizer_files(const std::filesystem::path& dir, const std::vector<std::string>& corpus,
                           const TokenizerSpec& spec);

}  // namespace illume

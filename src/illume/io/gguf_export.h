// Hugging Face model folder (Qwen3, Qwen2, Llama 3) -> one GGUF file that llama.cpp, Ollama and
// LM Studio run. Torch-free: the weights are read from the safetensors maps and converted element by
// element straight into the output file.
//
// What is written follows llama.cpp's own converter (convert_hf_to_gguf.py and gguf-py at the
// release node-llama-cpp 3.22.1 bundles), so that llama.cpp reads the file as it reads its own:
//   general.*        architecture (qwen3 | qwen2 | llama), type, name, file_type, quantization_version
//   <arch>.*         context_length, embedding_length, block_count, feed_forward_length,
//                    attention.head_count / head_count_kv / key_length / value_length /
//                    layer_norm_rms_epsilon, rope.freq_base, vocab_size (llama: rope.dimension_count)
//   tokenizer.*      ggml.model "gpt2", ggml.pre ("qwen2" or "llama-bpe", from the pre-tokenizer's
//                    split regex), ggml.tokens / token_type / merges, bos/eos/pad/unk ids,
//                    add_bos_token / add_eos_token, chat_template (from tokenizer_config.json)
//   tensors          token_embd, blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, attn_q_norm,
//                    attn_k_norm, ffn_norm, ffn_gate, ffn_up, ffn_down}, output_norm, output (only
//                    when not tied); q/k/v biases (Qwen2); rope_freqs (Llama 3 rope scaling).
//                    Norms and biases stay F32, matrices take the chosen dtype. Llama's q and k rows
//                    are permuted from the Hugging Face rotate-half layout to the interleaved pairs
//                    llama.cpp's LLAMA rope expects (Qwen uses NEOX rope: no permutation).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "illume/io/gguf.h"

namespace illume {

struct GgufExportOptions {
  gguf::TensorType dtype = gguf::TensorType::F32;  // of the matrices
  std::string name;                                 // general.name; default: the folder's name
};

struct GgufExportSummary {
  std::string architecture;  // "qwen3", "qwen2", "llama"
  std::string pre_tokenizer; // "qwen2", "llama-bpe"
  std::size_t tensors = 0;
  std::size_t metadata_keys = 0;
  std::uint64_t bytes = 0;   // file size
};

// "f32" | "bf16" | "f16" -> the type; fails naming `source` (e.g. "--dtype") otherwise.
gguf::TensorType parse_gguf_dtype(const std::string& name, const std::string& source);
// The dtype a checkpoint stores (config.json torch_dtype: bfloat16 -> BF16, float16 -> F16, else F32).
gguf::TensorType checkpoint_gguf_dtype(const std::filesystem::path& model_dir);

// Reads MODEL_DIR (config.json, model.safetensors or shards, tokenizer.json, tokenizer_config.json)
// and writes OUT atomically. Errors name the file and the problem: an architecture other than the
// three, a tensor the format has no name for, a missing tensor, a tokenizer llama.cpp would split
// differently (an unknown pre-tokenizer), token ids beyond vocab_size.
GgufExportSummary export_gguf(const std::filesystem::path& model_dir, const std::filesystem::path& out,
                              const GgufExportOptions& options = {});

}  // namespace illume

// illume export: a Hugging Face model folder as one GGUF file (llama.cpp, Ollama, LM Studio).
#include <cstdio>
#include <string>

#include "cli/command.h"
#include "illume/io/gguf_export.h"
#include "illume/util/error.h"

namespace {

void setup(CLI::App& app) {
  struct Flags {
    std::string model_dir, format, out, dtype;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "export",
      "Write a Qwen3, Qwen2 or Llama 3 model folder as a GGUF v3 file with its tokenizer and chat template, "
      "for llama.cpp, Ollama and LM Studio.");
  cmd->add_option("--model", f->model_dir, "Hugging Face model folder (config.json, safetensors, tokenizer.json)")
      ->required();
  cmd->add_option("--format", f->format, "output format: gguf")->required();
  cmd->add_option("--out", f->out, "output file (.gguf), written atomically")->required();
  cmd->add_option("--dtype", f->dtype,
                  "f32 | bf16 | f16: the matrices' type (norms and biases stay f32); default: the checkpoint's "
                  "torch_dtype");
  cmd->callback([f] {
    if (f->format != "gguf") illume::fail("export: --format '{}' is not supported (gguf)", f->format);
    illume::GgufExportOptions options;
    options.dtype = f->dtype.empty() ? illume::checkpoint_gguf_dtype(f->model_dir)
                                     : illume::parse_gguf_dtype(f->dtype, "--dtype");
    auto summary = illume::export_gguf(f->model_dir, f->out, options);
    std::fprintf(stderr, "export: wrote %s (%s, %s, pre-tokenizer %s, %zu tensors, %zu metadata keys, %.1f MB)\n",
                 f->out.c_str(), summary.architecture.c_str(), illume::gguf::tensor_type_name(options.dtype),
                 summary.pre_tokenizer.c_str(), summary.tensors, summary.metadata_keys, summary.bytes / 1e6);
  });
}
ILLUME_COMMAND(setup);

}  // namespace

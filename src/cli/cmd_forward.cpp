// illume forward: logits and attention probabilities of one sequence, as safetensors (debugging, interop).
#include <torch/torch.h>

#include <set>

#include "cli/command.h"
#include "cli/common.h"
#include "illume/io/safetensors_torch.h"
#include "illume/util/error.h"
#include "illume/util/file.h"

namespace {

// Keeps whole maps of the chosen layers: fine for the small inputs this command is for.
struct FullMapObserver : illume::AttentionObserver {
  std::set<int> layers;
  std::map<int, std::vector<at::Tensor>> blocks;
  bool wants_layer(int layer) const override { return layers.count(layer) > 0; }
  void on_block(const illume::AttentionBlock& b) override { blocks[b.layer].push_back(b.probs->select(0, 0).to(torch::kCPU)); }
};

void setup(CLI::App& app) {
  struct Flags {
    illume::cli::ModelFlags model;
    std::string ids, ids_file, out, layers = "all";
    std::int64_t max_tokens = 2048;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("forward",
                                 "Run one sequence and write its logits [S,V] and attention probabilities "
                                 "attn_probs.layer{l} [H,S,S] (F32) to a safetensors file. A debugging and interop "
                                 "tool for small inputs.");
  f->model.add_to(cmd);
  auto* ids = cmd->add_option("--ids", f->ids, "token ids, comma-separated");
  auto* ids_file = cmd->add_option("--ids-file", f->ids_file, "file with token ids (comma/space/newline separated)");
  ids->excludes(ids_file);
  cmd->add_option("--out", f->out, "output .safetensors")->required();
  auto* layers_option = cmd->add_option("--layers", f->layers, "layers whose attention maps are written: all | none | 0,3,5")
                     ->capture_default_str();
  illume::cli::add_deprecated_alias(cmd, "--attention-layers", f->layers, layers_option, CLI::Validator());
  cmd->add_option("--max-tokens", f->max_tokens,
                  "refuse longer inputs (the maps grow as H*S*S floats per layer)")->capture_default_str();
  cmd->callback([f] {
    if (f->ids.empty() && f->ids_file.empty()) illume::fail("forward: give --ids or --ids-file");
    std::string source = f->ids_file.empty() ? "--ids" : f->ids_file;
    auto id_list = illume::cli::parse_id_list(f->ids_file.empty() ? f->ids : illume::read_file(f->ids_file), source);
    auto config = illume::ModelConfig::load(f->model.model_dir);
    illume::cli::check_ids_in_vocabulary(id_list, config.vocab_size, source);
    std::set<int> layers;
    if (f->layers != "none" && !f->layers.empty())
      for (int l : illume::cli::parse_layers(f->layers, config.num_layers, "--layers")) layers.insert(l);
    const auto S = static_cast<std::int64_t>(id_list.size());
    if (S > f->max_tokens) {
      double mb = double(layers.size()) * config.num_heads * S * S * 4 / 1e6 + double(S) * config.vocab_size * 4 / 1e6;
      illume::fail("forward: {} tokens would write {:.0f} MB of maps and logits; this tool is for small inputs "
                   "(limit {} tokens, raise with --max-tokens; `illume analyze` streams statistics instead)",
                   S, mb, f->max_tokens);
    }
    auto model = f->model.load_model();
    FullMapObserver observer;
    observer.layers = layers;
    torch::NoGradGuard no_grad;
    auto input = torch::tensor(std::vector<std::int64_t>(id_list.begin(), id_list.end()), torch::kLong).unsqueeze(0);
    auto logits = model.forward(input, torch::ones_like(input), &observer)[0].to(torch::kCPU).contiguous();
    std::vector<std::pair<std::string, at::Tensor>> tensors = {{"logits", logits}};
    for (auto& [layer, blocks] : observer.blocks)
      tensors.emplace_back("attn_probs.layer" + std::to_string(layer), torch::cat(blocks, 1).contiguous());
    illume::save_safetensors(f->out, tensors, {{"format", "pt"}, {"producer", "illume forward"}});
    std::fprintf(stderr, "forward: wrote %s (logits [%lld, %lld], %zu attention layers)\n", f->out.c_str(),
                 static_cast<long long>(S), static_cast<long long>(config.vocab_size), observer.blocks.size());
  });
}
ILLUME_COMMAND(setup);

}  // namespace

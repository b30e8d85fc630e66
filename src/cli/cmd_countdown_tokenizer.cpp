// illume countdown-tokenizer: the default model's byte-level BPE tokenizer, learned on generated
// Countdown conversations (the chat-formatted task prompt + the solution trace).
//   illume countdown-tokenizer --out DIR [--conversations 2000] [--seed 0] [--merges 200]
// Writes DIR/tokenizer.json and DIR/tokenizer_config.json (tokenizer_builder.h): 256 byte tokens,
// MERGES merges, then <|endoftext|> <|im_start|> <|im_end|> (special) and <think> </think>.
#include <cstdio>

#include "cli/command.h"
#include "cli/common.h"
#include "illume/data/countdown_gen.h"
#include "illume/data/tasks.h"
#include "illume/text/chat.h"
#include "illume/text/tokenizer_builder.h"

namespace {

void setup(CLI::App& app) {
  struct Flags {
    std::string out;
    std::int64_t conversations = 2000, merges = 200;
    std::uint64_t seed = 0;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("countdown-tokenizer", "Learn the default model's small byte-level BPE tokenizer on generated Countdown text");
  cmd->add_option("--out", f->out, "output folder")->required();
  const auto conversations = illume::cli::integer_range(1, 10'000'000);
  auto* count = cmd->add_option("--conversations", f->conversations, "generated conversations in the corpus")
                    ->check(conversations)
                    ->capture_default_str();
  // -n/--num-samples means samples per prompt everywhere; this count had the old spelling --n.
  illume::cli::add_deprecated_alias(cmd, "--n", f->conversations, count, conversations);
  cmd->add_option("--seed", f->seed, "generator seed")->check(illume::cli::non_negative_integer())->capture_default_str();
  cmd->add_option("--merges", f->merges, "BPE merges to learn")
      ->check(illume::cli::integer_range(0, 1'000'000))
      ->capture_default_str();
  cmd->callback([f] {
    auto options = illume::data::countdown_difficulty("standard");
    std::vector<std::string> corpus;
    for (std::int64_t i = 0; i < f->conversations; ++i) {
      auto p = illume::data::generate_countdown(f->seed, static_cast<std::uint64_t>(i), options);
      illume::data::Problem problem;
      problem.nums = p.nums;
      problem.target = p.target;
      auto user = illume::data::build_prompt(illume::data::Task::Countdown, problem, illume::data::PromptStyle::Chat);
      // The special tokens are not part of BPE training (the builder matches them first).
      corpus.push_back("user\n" + user + "\nassistant\n" + p.response);
    }
    illume::TokenizerSpec spec;
    spec.num_merges = f->merges;
    illume::write_tokenizer_files(f->out, corpus, spec);
    std::fprintf(stderr, "countdown-tokenizer: wrote %s/tokenizer.json (%lld merges requested)\n", f->out.c_str(),
                 static_cast<long long>(f->merges));
  });
}
ILLUME_COMMAND(setup);

}  // namespace

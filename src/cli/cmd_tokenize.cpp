// illume tokenize / detokenize
#include <cstdio>

#include "cli/command.h"
#include "cli/common.h"
#include "illume/text/chat.h"
#include "illume/util/error.h"
#include "illume/util/file.h"

namespace {

struct TokenizeFlags {
  illume::cli::ModelFlags model;
  std::string text, file;
  bool chat = false;
  bool no_thinking = false;
  std::string system;
};

void setup(CLI::App& app) {
  auto flags = std::make_shared<TokenizeFlags>();
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text, space-separated on one line");
  flags->model.add_to(cmd, false);
  auto* text = cmd->add_option("--text", flags->text, "text to tokenize");
  auto* file = cmd->add_option("--file", flags->file, "file whose contents to tokenize");
  text->excludes(file);
  cmd->add_flag("--chat", flags->chat, "wrap the text as a user turn in the chat format (with the generation prompt)");
  cmd->add_option("--system", flags->system, "system message for --chat");
  cmd->add_flag("--no-thinking", flags->no_thinking, "with --chat: add the empty think block (enable_thinking=false)");
  cmd->callback([flags] {
    if (flags->text.empty() && flags->file.empty()) illume::fail("tokenize: give --text or --file");
    auto tokenizer = flags->model.load_tokenizer();
    std::string source = flags->file.empty() ? "--text" : flags->file;
    std::string input = flags->file.empty() ? flags->text : illume::read_file(flags->file);
    std::vector<std::int32_t> ids;
    if (flags->chat) {
      std::vector<illume::ChatMessage> messages;
      if (!flags->system.empty()) messages.push_back({"system", flags->system});
      messages.push_back({"user", input});
      // Validate the user's text first so the error names its source, then parse the template's specials.
      tokenizer.encode(input, false, source);
      ids = tokenizer.encode(illume::format_chat(messages, true, !flags->no_thinking), true, source);
    } else {
      ids = tokenizer.encode(input, false, source);
    }
    std::string line;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (i) line.push_back(' ');
      line += std::to_string(ids[i]);
    }
    std::printf("%s\n", line.c_str());
  });

  auto dflags = std::make_shared<TokenizeFlags>();
  auto* dcmd = app.add_subcommand("detokenize", "Print the text of token ids");
  dflags->model.add_to(dcmd, false);
  auto ids_text = std::make_shared<std::string>();
  auto skip = std::make_shared<bool>(false);
  dcmd->add_option("--ids", *ids_text, "ids, comma- or space-separated")->required();
  dcmd->add_flag("--skip-special", *skip, "leave special tokens out");
  dcmd->callback([dflags, ids_text, skip] {
    auto tokenizer = dflags->model.load_tokenizer();
    auto ids = illume::cli::parse_id_list(*ids_text, "--ids");
    illume::cli::check_ids_in_vocabulary(ids, tokenizer.vocab_size(), "--ids");
    auto text = tokenizer.decode(ids, *skip);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
  });
}
ILLUME_COMMAND(setup);

}  // namespace

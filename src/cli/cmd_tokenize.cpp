// illume tokenize / detokenize
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

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
  bool no_parse_special = false;
  std::string system;
};

// The chat prompt of `messages` and the byte ranges of their contents within it: the template is
// rendered with one placeholder byte per message (0x01, 0x02: bytes the template never writes), and
// each placeholder is then replaced by its message's text.
std::pair<std::string, std::vector<illume::Tokenizer::ByteRange>> chat_with_content_ranges(
    const std::vector<illume::ChatMessage>& messages, bool enable_thinking) {
  auto placeholders = messages;
  for (std::size_t i = 0; i < placeholders.size(); ++i) placeholders[i].content = std::string(1, char(i + 1));
  const auto rendered = illume::format_chat(placeholders, true, enable_thinking);
  std::string text;
  std::vector<illume::Tokenizer::ByteRange> ranges;
  for (char c : rendered) {
    if (c >= 1 && static_cast<std::size_t>(c) <= messages.size()) {
      const auto& content = messages[static_cast<std::size_t>(c) - 1].content;
      ranges.push_back({text.size(), text.size() + content.size()});
      text += content;
    } else {
      text.push_back(c);
    }
  }
  return {text, ranges};
}

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
  cmd->add_flag("--no-parse-special", flags->no_parse_special,
                "treat special-token text in the input (e.g. <|im_start|>) as plain text, for untrusted text; "
                "by default it becomes the special token, as Hugging Face's encode does (with --chat the "
                "template's own special tokens are always parsed)");
  cmd->callback([flags] {
    if (flags->text.empty() && flags->file.empty()) illume::fail("tokenize: give --text or --file");
    auto tokenizer = flags->model.load_tokenizer();
    std::string source = flags->file.empty() ? "--text" : flags->file;
    std::string input = flags->file.empty() ? flags->text : illume::read_file(flags->file);
    const bool parse_special = !flags->no_parse_special;
    std::vector<std::int32_t> ids;
    if (flags->chat) {
      std::vector<illume::ChatMessage> messages;
      if (!flags->system.empty()) messages.push_back({"system", flags->system});
      messages.push_back({"user", input});
      // Validate the texts first so that an error names their source.
      tokenizer.encode(input, false, source);
      tokenizer.encode(flags->system, false, "--system");
      if (parse_special) {
        ids = tokenizer.encode(illume::format_chat(messages, true, !flags->no_thinking), true, source);
      } else {
        auto [text, contents] = chat_with_content_ranges(messages, !flags->no_thinking);
        ids = tokenizer.encode_with_literal_ranges(text, contents, source);
      }
    } else {
      // Hugging Face's encode(text, add_special_tokens=False): special-token text becomes its id.
      ids = tokenizer.encode(input, parse_special, source);
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

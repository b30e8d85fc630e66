#include "common.h"
#include "illume/text/chat.h"
#include "illume/text/tokenizer.h"
#include "illume/text/tokenizer_builder.h"

using namespace illume;

TEST(TokenizerBuilder, LearnsMergesAndRoundTripsThroughTheStandardLoader) {
  std::vector<std::string> corpus = {"Let me try 25 + 17 = 42. That works!", "Let me try 42 - 17 = 25.",
                                     "<answer> (25 + 17) </answer> the the the"};
  TokenizerSpec spec;
  spec.num_merges = 20;
  spec.added_tokens = {"<think>", "</think>", "<answer>", "</answer>"};
  auto dir = test::scratch_dir();
  write_tokenizer_files(dir, corpus, spec);
  auto tok = Tokenizer::from_dir(dir);
  // Merges stop early once no pair occurs twice; this corpus has 14 repeated pairs.
  auto json = build_byte_level_tokenizer(corpus, spec);
  auto merges = json["model"]["merges"].size();
  EXPECT_GE(merges, 10u);
  EXPECT_LE(merges, 20u);
  EXPECT_EQ(tok.vocab_size(), static_cast<std::int32_t>(256 + merges + 3 + 4));
  EXPECT_EQ(tok.eos_token_id(), tok.token_to_id("<|im_end|>"));
  std::string text = "Let me try 42 - 25 = 17. héllo ∑ 🙂\n\n";
  auto ids = tok.encode(text, false);
  EXPECT_EQ(tok.decode(ids), text);
  EXPECT_LT(ids.size(), text.size());  // merges shorten common words ("Let", " me", " try")
  // Specials and added tokens are single ids.
  auto chat = tok.encode(format_chat({{"user", "hi"}}, true, false), true);
  EXPECT_EQ(chat.front(), *tok.token_to_id("<|im_start|>"));
  auto answer = tok.encode("<answer>1</answer>", true);
  EXPECT_EQ(answer.size(), 3u);
  // Deterministic: the same corpus gives the same file.
  EXPECT_EQ(build_byte_level_tokenizer(corpus, spec).dump(), build_byte_level_tokenizer(corpus, spec).dump());
}

TEST(TokenizerBuilder, BytesOnlyTokenizerEncodesEveryByte) {
  auto dir = test::scratch_dir();
  write_tokenizer_files(dir, {}, TokenizerSpec{});
  auto tok = Tokenizer::from_dir(dir);
  EXPECT_EQ(tok.vocab_size(), 256 + 3 + 2);
  std::string text = "abc \t\n";
  auto ids = tok.encode(text, false);
  EXPECT_EQ(ids.size(), text.size());
  EXPECT_EQ(tok.decode(ids), text);
}

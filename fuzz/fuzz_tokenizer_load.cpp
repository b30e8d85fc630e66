// tokenizer.json loading (text/tokenizer.cpp): normaliser, pre-tokeniser (Split regexes, ByteLevel,
// Sequences), BPE vocabulary and merges, added tokens, decoder. A tokenizer that loads must then
// encode and decode a fixed text without crashing.
#include "fuzz_common.h"
#include "illume/text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto path = illume::fuzz::input_file(bytes, "tokenizer.json");
  std::optional<illume::Tokenizer> tokenizer;
  illume::fuzz::expect_clean(path.string(), [&] { tokenizer = illume::Tokenizer::from_file(path); });
  if (!tokenizer) return 0;
  for (const char* text : {"Hello world, 12 + 34 = 46.\n<think>", "<|im_start|>user\nCaf\xc3\xa9 \xe2\x88\x92 x\n", ""}) {
    illume::fuzz::expect_clean("", [&] {
      auto ids = tokenizer->encode(text);
      for (auto id : ids)
        if (!tokenizer->has_id(id)) illume::fuzz::finding("encode produced an id decode does not know");
      (void)tokenizer->decode(ids);
      (void)tokenizer->decode(ids, true);
    });
  }
  return 0;
}

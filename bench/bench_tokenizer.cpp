// Tokenizer throughput: encodes GSM8K's training split (questions and answers, about 4 MB) with
// the Qwen3 tokenizer and decodes it back.
//   usage: bench_tokenizer [SHARED_DIR]   (default: $ILLUME_SHARED, else ../shared of the source tree)
// Prints load time, encode MB/s and tokens/s (first pass with a cold word cache, then the best of
// three warm passes), and decode MB/s.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "illume/text/tokenizer.h"
#include "illume/util/error.h"
#include "illume/util/json.h"
#include "illume/util/blas_kernel.h"
#include "illume/util/build_paths.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  illume::select_blas_kernel_at_startup(argv);  // the same start-up as every benchmark (util/blas_kernel.h)
  illume::print_machine_header(stdout, 1);        // the tokenizer runs on one thread
  try {
    std::filesystem::path shared = argc > 1                        ? std::filesystem::path(argv[1])
                                   : std::getenv("ILLUME_SHARED") ? std::filesystem::path(std::getenv("ILLUME_SHARED"))
                                                                  : std::filesystem::path(::illume::build::source_dir()) / ".." / "shared";
    auto start = std::chrono::steady_clock::now();
    const illume::Tokenizer tokenizer = illume::Tokenizer::from_dir(shared / "tokenizer");
    std::printf("load tokenizer.json:  %.3f s (vocab %d)\n", seconds_since(start), tokenizer.vocab_size());

    std::string text;
    for (const auto& row : illume::read_jsonl_file(shared / "data" / "gsm8k" / "train.jsonl")) {
      text += row.at("question").get<std::string>();
      text += "\n";
      text += row.at("answer").get<std::string>();
      text += "\n\n";
    }
    const double megabytes = static_cast<double>(text.size()) / 1e6;
    std::printf("text:                 %.2f MB (gsm8k train questions + answers)\n", megabytes);

    start = std::chrono::steady_clock::now();
    std::vector<std::int32_t> ids = tokenizer.encode(text, false, "gsm8k/train.jsonl");
    double cold = seconds_since(start);
    std::printf("encode, cold cache:   %.1f MB/s, %.2f M tokens/s (%zu tokens, %.3f s)\n", megabytes / cold,
                static_cast<double>(ids.size()) / cold / 1e6, ids.size(), cold);

    double best = 1e30;
    for (int pass = 0; pass < 3; ++pass) {
      start = std::chrono::steady_clock::now();
      ids = tokenizer.encode(text, false, "gsm8k/train.jsonl");
      best = std::min(best, seconds_since(start));
    }
    std::printf("encode, warm (best/3): %.1f MB/s, %.2f M tokens/s (%.3f s)\n", megabytes / best,
                static_cast<double>(ids.size()) / best / 1e6, best);

    double best_decode = 1e30;
    std::string decoded;
    for (int pass = 0; pass < 3; ++pass) {
      start = std::chrono::steady_clock::now();
      decoded = tokenizer.decode(ids);
      best_decode = std::min(best_decode, seconds_since(start));
    }
    std::printf("decode (best/3):      %.1f MB/s, %.2f M tokens/s (%.3f s)\n", megabytes / best_decode,
                static_cast<double>(ids.size()) / best_decode / 1e6, best_decode);
    std::printf("round trip:           %s\n", decoded == text ? "exact" : "DIFFERS");
    return decoded == text ? 0 : 1;
  } catch (const illume::Error& e) {
    std::fprintf(stderr, "bench_tokenizer: %s\n", e.what());
    return 1;
  }
}

// A small driver of llama.cpp's C API, to check illume's GGUF exports and to benchmark llama.cpp with
// the same protocol as bench/bench_compare.cpp. It is built by bench/llama/build.sh against the
// prebuilt libllama of npm @node-llama-cpp/linux-x64 and the headers of the llama.cpp source that
// package was built from (neither is part of this repository), not by the main CMake build.
//
//   llama_harness logits   MODEL.gguf --ids 1,2,3 --out LOGITS.f32 [--kv f32|f16] [--flash on|off|auto]
//       logits of every position, float32 [n_ids, n_vocab] row-major, raw
//   llama_harness tokenize MODEL.gguf --texts TEXTS [--no-parse-special]
//       TEXTS: texts separated by NUL bytes; prints one line of space-separated ids per text
//   llama_harness bench    MODEL.gguf [--kv f32|f16] [--flash on|off|auto] [--threads 2] [--reps 3]
//                          [--prefill 512] [--decode-steps 128] [--batch 8] [--batch-prompt 16]
//       prints one JSON line: tokens/s of prefill (last-token logits), decode batch 1 (greedy, after the
//       prefill prompt) and decode batch 8 (sum over 8 unrelated prompts); median of --reps after a warm-up
//
// Common: --threads N (default 2). Errors print one line and exit 1.
#include <ggml-backend.h>
#include <llama.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "llama_harness: error: %s\n", message.c_str());
  std::exit(1);
}

struct Options {
  std::string mode, model, ids, out, texts, kv = "f32", flash = "off";
  bool parse_special = true;
  int threads = 2, reps = 3, prefill = 512, decode_steps = 128, batch = 8, batch_prompt = 16;
};

Options parse(int argc, char** argv) {
  if (argc < 3) die("usage: llama_harness logits|tokenize|bench MODEL.gguf [options] (see the source's header)");
  Options o;
  o.mode = argv[1];
  o.model = argv[2];
  for (int i = 3; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--ids") o.ids = value();
    else if (flag == "--out") o.out = value();
    else if (flag == "--texts") o.texts = value();
    else if (flag == "--kv") o.kv = value();
    else if (flag == "--flash") o.flash = value();
    else if (flag == "--threads") o.threads = std::stoi(value());
    else if (flag == "--reps") o.reps = std::stoi(value());
    else if (flag == "--prefill") o.prefill = std::stoi(value());
    else if (flag == "--decode-steps") o.decode_steps = std::stoi(value());
    else if (flag == "--batch") o.batch = std::stoi(value());
    else if (flag == "--batch-prompt") o.batch_prompt = std::stoi(value());
    else if (flag == "--no-parse-special") o.parse_special = false;
    else die("unknown flag " + flag);
  }
  if (o.kv != "f32" && o.kv != "f16") die("--kv must be f32 or f16");
  if (o.flash != "on" && o.flash != "off" && o.flash != "auto") die("--flash must be on, off or auto");
  return o;
}

std::vector<llama_token> parse_ids(const std::string& text) {
  std::vector<llama_token> ids;
  std::string item;
  for (char c : text + ",") {
    if (c == ',' || c == ' ' || c == '\n') {
      if (!item.empty()) ids.push_back(static_cast<llama_token>(std::stol(item)));
      item.clear();
    } else {
      item.push_back(c);
    }
  }
  return ids;
}

llama_model* load_model(const std::string& path) {
  auto params = llama_model_default_params();
  params.n_gpu_layers = 0;
  auto* model = llama_model_load_from_file(path.c_str(), params);
  if (!model) die(path + ": llama.cpp could not load it");
  return model;
}

llama_context* new_context(llama_model* model, const Options& o, std::uint32_t n_ctx, std::uint32_t n_batch,
                           std::uint32_t n_seq) {
  auto params = llama_context_default_params();
  params.n_ctx = n_ctx;
  params.n_batch = n_batch;
  params.n_ubatch = n_batch;
  params.n_seq_max = n_seq;
  params.n_threads = o.threads;
  params.n_threads_batch = o.threads;
  params.type_k = o.kv == "f32" ? GGML_TYPE_F32 : GGML_TYPE_F16;
  params.type_v = params.type_k;
  params.flash_attn_type = o.flash == "on"    ? LLAMA_FLASH_ATTN_TYPE_ENABLED
                           : o.flash == "off" ? LLAMA_FLASH_ATTN_TYPE_DISABLED
                                              : LLAMA_FLASH_ATTN_TYPE_AUTO;
  params.no_perf = true;
  auto* context = llama_init_from_model(model, params);
  if (!context) die("llama.cpp could not create a context");
  return context;
}

// Adds one token of sequence `seq` at `position` to the batch.
void batch_add(llama_batch& batch, llama_token id, llama_pos position, llama_seq_id seq, bool logits) {
  const int i = batch.n_tokens++;
  batch.token[i] = id;
  batch.pos[i] = position;
  batch.n_seq_id[i] = 1;
  batch.seq_id[i][0] = seq;
  batch.logits[i] = logits;
}

void decode_or_die(llama_context* context, llama_batch& batch) {
  if (llama_decode(context, batch) != 0) die("llama_decode failed");
}

int mode_logits(const Options& o) {
  auto ids = parse_ids(o.ids);
  if (ids.empty() || o.out.empty()) die("logits needs --ids and --out");
  auto* model = load_model(o.model);
  const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  const auto n = static_cast<std::uint32_t>(ids.size());
  auto* context = new_context(model, o, std::max<std::uint32_t>(n, 256), n, 1);
  llama_batch batch = llama_batch_init(static_cast<int>(n), 0, 1);
  for (std::uint32_t i = 0; i < n; ++i) batch_add(batch, ids[i], static_cast<llama_pos>(i), 0, true);
  decode_or_die(context, batch);
  std::ofstream out(o.out, std::ios::binary);
  for (std::uint32_t i = 0; i < n; ++i) {
    const float* row = llama_get_logits_ith(context, static_cast<int32_t>(i));
    if (!row) die("no logits for position " + std::to_string(i));
    out.write(reinterpret_cast<const char*>(row), static_cast<std::streamsize>(sizeof(float) * n_vocab));
  }
  if (!out) die(o.out + ": write failed");
  std::printf("logits: %u x %d\n", n, n_vocab);
  llama_batch_free(batch);
  llama_free(context);
  llama_model_free(model);
  return 0;
}

int mode_tokenize(const Options& o) {
  if (o.texts.empty()) die("tokenize needs --texts");
  std::ifstream in(o.texts, std::ios::binary);
  if (!in) die(o.texts + ": cannot open");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string all = buffer.str();
  auto* model = load_model(o.model);
  const auto* vocab = llama_model_get_vocab(model);
  std::size_t start = 0;
  while (start < all.size()) {
    auto end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    const std::string text = all.substr(start, end - start);
    start = end + 1;
    std::vector<llama_token> ids(text.size() + 16);
    int n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), ids.data(),
                           static_cast<int32_t>(ids.size()), /*add_special=*/false, o.parse_special);
    if (n < 0) die("tokenize: more tokens than bytes");
    for (int i = 0; i < n; ++i) std::printf(i ? " %d" : "%d", ids[i]);
    std::printf("\n");
  }
  llama_model_free(model);
  return 0;
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

llama_token argmax(const float* row, int n) { return static_cast<llama_token>(std::max_element(row, row + n) - row); }

// Deterministic token ids (plain vocabulary, no specials).
struct TokenStream {
  std::uint64_t state;
  llama_token next(int limit) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<llama_token>((state >> 33) % static_cast<std::uint64_t>(limit));
  }
};

int mode_bench(const Options& o) {
  auto* model = load_model(o.model);
  const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  const int plain_vocab = std::min(n_vocab, 151643);
  TokenStream stream{7};

  // Prefill and decode batch 1 share one context.
  auto* context = new_context(model, o, static_cast<std::uint32_t>(o.prefill + o.decode_steps + 16),
                              static_cast<std::uint32_t>(o.prefill), 1);
  std::vector<llama_token> prompt(static_cast<std::size_t>(o.prefill));
  for (auto& t : prompt) t = stream.next(plain_vocab);
  llama_batch batch = llama_batch_init(std::max(o.prefill, o.batch * o.batch_prompt), 0, o.batch);
  std::vector<double> prefill_times, decode1_times;
  for (int rep = 0; rep <= o.reps; ++rep) {  // rep 0 warms up
    llama_memory_clear(llama_get_memory(context), true);
    batch.n_tokens = 0;
    for (int i = 0; i < o.prefill; ++i) batch_add(batch, prompt[static_cast<std::size_t>(i)], i, 0, i == o.prefill - 1);
    auto start = Clock::now();
    decode_or_die(context, batch);
    llama_token next = argmax(llama_get_logits_ith(context, -1), n_vocab);
    const double prefill_seconds = seconds_since(start);
    start = Clock::now();
    for (int step = 0; step < o.decode_steps; ++step) {
      batch.n_tokens = 0;
      batch_add(batch, next, o.prefill + step, 0, true);
      decode_or_die(context, batch);
      next = argmax(llama_get_logits_ith(context, -1), n_vocab);
    }
    const double decode_seconds = seconds_since(start);
    if (rep > 0) {
      prefill_times.push_back(prefill_seconds);
      decode1_times.push_back(decode_seconds);
    }
  }
  llama_free(context);

  // Decode batch B: B unrelated prompts, one sequence each, then decode_steps steps of B tokens.
  const int B = o.batch;
  context = new_context(model, o, static_cast<std::uint32_t>(B * (o.batch_prompt + o.decode_steps + 16)),
                        static_cast<std::uint32_t>(B * o.batch_prompt), static_cast<std::uint32_t>(B));
  std::vector<std::vector<llama_token>> prompts(static_cast<std::size_t>(B));
  for (auto& p : prompts) {
    p.resize(static_cast<std::size_t>(o.batch_prompt));
    for (auto& t : p) t = stream.next(plain_vocab);
  }
  std::vector<double> decode_batch_times;
  for (int rep = 0; rep <= o.reps; ++rep) {
    llama_memory_clear(llama_get_memory(context), true);
    batch.n_tokens = 0;
    for (int s = 0; s < B; ++s)
      for (int i = 0; i < o.batch_prompt; ++i)
        batch_add(batch, prompts[static_cast<std::size_t>(s)][static_cast<std::size_t>(i)], i, s, i == o.batch_prompt - 1);
    decode_or_die(context, batch);
    std::vector<llama_token> next(static_cast<std::size_t>(B));
    for (int s = 0; s < B; ++s) next[static_cast<std::size_t>(s)] = argmax(llama_get_logits_ith(context, (s + 1) * o.batch_prompt - 1), n_vocab);
    auto start = Clock::now();
    for (int step = 0; step < o.decode_steps; ++step) {
      batch.n_tokens = 0;
      for (int s = 0; s < B; ++s) batch_add(batch, next[static_cast<std::size_t>(s)], o.batch_prompt + step, s, true);
      decode_or_die(context, batch);
      for (int s = 0; s < B; ++s) next[static_cast<std::size_t>(s)] = argmax(llama_get_logits_ith(context, s), n_vocab);
    }
    if (rep > 0) decode_batch_times.push_back(seconds_since(start));
  }
  llama_free(context);
  llama_batch_free(batch);
  llama_model_free(model);
  std::printf("{\"kv\": \"%s\", \"flash\": \"%s\", \"threads\": %d, \"prefill\": %.2f, \"decode1\": %.2f, "
              "\"decode_batch\": %.2f}\n",
              o.kv.c_str(), o.flash.c_str(), o.threads, o.prefill / median(prefill_times),
              o.decode_steps / median(decode1_times), double(B) * o.decode_steps / median(decode_batch_times));
  return 0;
}

void quiet_log(ggml_log_level level, const char* text, void*) {
  if (level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

}  // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  if (!std::getenv("LLAMA_HARNESS_VERBOSE")) llama_log_set(quiet_log, nullptr);
  // The CPU backend variants (libggml-cpu-haswell.so, ...) lie beside this program.
  char self[4096] = {0};
  const auto length = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string folder = length > 0 ? std::string(self, static_cast<std::size_t>(length)) : std::string(argv[0]);
  folder = folder.rfind('/') == std::string::npos ? "." : folder.substr(0, folder.rfind('/'));
  ggml_backend_load_all_from_path(folder.c_str());
  llama_backend_init();
  int status = 0;
  if (o.mode == "logits") status = mode_logits(o);
  else if (o.mode == "tokenize") status = mode_tokenize(o);
  else if (o.mode == "bench") status = mode_bench(o);
  else die("unknown mode " + o.mode + " (logits, tokenize, bench)");
  llama_backend_free();
  return status;
}

// Data-parallel training (src/illume/dist/, issue 13): the built `illume` as several processes over
// Gloo on the loopback interface.
//   - 2 ranks (`illume launch --nproc 2`) vs 1 rank with the same global batch: the same per-step
//     loss and metrics and the same final weights, for GRPO with credit `coupled` (the default model,
//     whose rewards vary within groups) and for SFT (a tiny random model);
//   - a rank killed mid-run makes the other exit non-zero within --dist-timeout, in one line naming
//     the ranks; a rank that hangs (stopped) makes the other exit at the timeout;
//   - launch stops the other ranks when one fails and names it.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include "common.h"
#include "illume/io/safetensors_torch.h"
#include "illume/util/build_paths.h"
#include "illume/util/json.h"

#include <torch/torch.h>

namespace fs = std::filesystem;
using namespace illume;
using namespace illume::test;

namespace {

using Clock = std::chrono::steady_clock;

fs::path source_path(const std::string& relative) { return fs::path(::illume::build::source_dir()) / relative; }

// A port nobody listens on (bound and released), for a rendezvous started by hand.
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// `illume ARGS` as a child with extra environment variables, stderr to `err`; returns its pid.
pid_t spawn_illume(const std::vector<std::string>& args, const std::vector<std::pair<std::string, std::string>>& env,
                   const fs::path& err) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    ::setenv("ILLUME_THREADS", "1", 1);
    FILE* f = std::freopen(err.c_str(), "w", stderr);
    (void)f;
    std::freopen("/dev/null", "w", stdout);
    std::vector<char*> argv;
    auto binary = illume_binary();
    argv.push_back(binary.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits at most `limit` for the child; returns its wait status, or -1 (and kills it) past the limit.
int wait_for(pid_t pid, std::chrono::seconds limit, double* seconds = nullptr) {
  const auto t0 = Clock::now();
  while (Clock::now() - t0 < limit) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      if (seconds) *seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return -1;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<Json> metrics_rows(const fs::path& run) { return read_jsonl_file(run / "metrics.jsonl"); }

// Every numeric value of both logs, key by key (times and time shares differ between runs and are
// skipped; keys that only the data-parallel run has, such as its communication time, too). Returns
// the largest relative difference max |a - b| / max(1, |a|).
double compare_metrics(const std::vector<Json>& one, const std::vector<Json>& two, double tolerance) {
  EXPECT_EQ(one.size(), two.size());
  double worst = 0;
  for (std::size_t i = 0; i < std::min(one.size(), two.size()); ++i) {
    for (const auto& [key, a] : one[i].items()) {
      if (!a.is_number() || key.find("time") != std::string::npos || key.find("share") != std::string::npos) continue;
      if (!two[i].contains(key)) {
        ADD_FAILURE() << "row " << i << " of the 2-rank log lacks " << key;
        continue;
      }
      const double x = a.get<double>(), y = two[i][key].get<double>();
      const double difference = std::abs(x - y) / std::max(1.0, std::abs(x));
      worst = std::max(worst, difference);
      EXPECT_LE(difference, tolerance) << "row " << i << " key " << key << ": 1 rank " << x << ", 2 ranks " << y;
    }
  }
  return worst;
}

double max_weight_difference(const fs::path& a, const fs::path& b) {
  auto x = load_safetensors(a), y = load_safetensors(b);
  EXPECT_EQ(x.size(), y.size());
  double worst = 0;
  for (const auto& [name, tensor] : x) {
    auto other = y.find(name);
    if (other == y.end()) {
      ADD_FAILURE() << name << " missing in " << b;
      continue;
    }
    worst = std::max(worst, (tensor.to(torch::kDouble) - other->second.to(torch::kDouble)).abs().max().item<double>());
  }
  return worst;
}

std::vector<std::string> grpo_args(const fs::path& out, int steps) {
  return {"train", "--config", source_path("configs/demo-grpo.yaml").string(),
          "model.dir=" + source_path("models/illume-countdown-tiny").string(),
          "data.path=" + shared_path("data/countdown/train.jsonl").string(), "run.out=" + out.string(),
          "run.steps=" + std::to_string(steps), "optim.batch_size=16", "optim.micro_batch_size=4",
          "rollout.max_response_tokens=48", "credit.strategy=coupled", "run.progress=false", "run.tensorboard=false",
          "run.save_every=0"};
}

// A tiny SFT recipe: a random 2-layer model on the default model's tokenizer and generated puzzles.
fs::path write_sft_recipe(const fs::path& dir, const fs::path& out, int steps) {
  const auto path = dir / ("sft-" + out.filename().string() + ".yaml");
  std::ofstream f(path);
  f << "model:\n  tokenizer: " << source_path("models/illume-countdown-tiny").string() << "\n"
    << "  config: {model_type: qwen3, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,\n"
    << "           num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, max_position_embeddings: 512,\n"
    << "           rope_theta: 10000.0, rms_norm_eps: 1.0e-6, tie_word_embeddings: true}\n"
    << "data:\n  generate: {n: 200, seed: 1, difficulty: standard}\n  prompt_style: chat\n  eval_size: 8\n"
    << "  max_length: 320\n"
    << "optim: {batch_size: 8, lr: 3.0e-3, warmup_steps: 2, min_lr_ratio: 0.1, weight_decay: 0.1, grad_clip: 1.0}\n"
    << "run: {out: " << out.string() << ", steps: " << steps
    << ", seed: 0, threads: 1, log_every: 1, eval_every: 0, save_every: 0,\n"
    << "      keep_checkpoints: 1, progress: false, tensorboard: false, export_dtype: f32}\n"
    << "accuracy: {n: 0}\n";
  return path;
}

}  // namespace

TEST(Distributed, GrpoCoupledTwoRanksEqualOneRank) {
  ILLUME_REQUIRE_SHARED_PATH("data/countdown/train.jsonl");
  const auto dir = scratch_dir();
  ::setenv("ILLUME_THREADS", "1", 1);
  const auto one = run_illume(grpo_args(dir / "one", 3));
  ASSERT_EQ(one.status, 0) << one.err;
  auto args = grpo_args(dir / "two", 3);
  args.insert(args.begin(), {"launch", "--nproc", "2", "--"});
  const auto two = run_illume(args);
  ASSERT_EQ(two.status, 0) << two.err;
  const auto rows_one = metrics_rows(dir / "one"), rows_two = metrics_rows(dir / "two");
  ASSERT_EQ(rows_one.size(), 3u);
  // Rank 0 alone logged: one row a step (two writers would double or interleave them).
  ASSERT_EQ(rows_two.size(), 3u);
  const double metrics = compare_metrics(rows_one, rows_two, 1e-4);
  const double weights = max_weight_difference(dir / "one/checkpoints/step-000003/model.safetensors",
                                               dir / "two/checkpoints/step-000003/model.safetensors");
  EXPECT_LE(weights, 1e-5);
  const double moved = max_weight_difference(source_path("models/illume-countdown-tiny/model.safetensors"),
                                             dir / "one/checkpoints/step-000003/model.safetensors");
  // The rewards vary within groups, so the steps do train (the comparison is not of unchanged weights).
  EXPECT_GT(moved, 1e-4) << "training did not change the weights";
  std::printf("GRPO coupled, 3 steps: max metric difference %.3g (relative), max weight difference %.3g "
              "(weights moved up to %.3g)\n", metrics, weights, moved);
}

TEST(Distributed, SftTwoRanksEqualOneRank) {
  const auto dir = scratch_dir();
  ::setenv("ILLUME_THREADS", "1", 1);
  const auto one = run_illume({"sft", "--config", write_sft_recipe(dir, dir / "one", 4).string()});
  ASSERT_EQ(one.status, 0) << one.err;
  const auto two = run_illume({"launch", "--nproc", "2", "--", "sft", "--config",
                               write_sft_recipe(dir, dir / "two", 4).string()});
  ASSERT_EQ(two.status, 0) << two.err;
  const auto rows_one = metrics_rows(dir / "one"), rows_two = metrics_rows(dir / "two");
  ASSERT_EQ(rows_one.size(), 4u);
  const double metrics = compare_metrics(rows_one, rows_two, 1e-5);
  const double weights = max_weight_difference(dir / "one/final/model.safetensors", dir / "two/final/model.safetensors");
  EXPECT_LE(weights, 1e-5);
  std::printf("SFT, 4 steps: max metric difference %.3g (relative), max weight difference %.3g\n", metrics, weights);
}

TEST(Distributed, ResumeWithAnotherWorldSizeWarnsAndContinues) {
  const auto dir = scratch_dir();
  ::setenv("ILLUME_THREADS", "1", 1);
  // 2 steps on 2 ranks, then on to 4 on 1 rank; against 2 steps and on to 4, both on 1 rank (the
  // learning-rate schedule follows run.steps, so both halves run the same recipes).
  const auto recipe = write_sft_recipe(dir, dir / "run", 4), reference = write_sft_recipe(dir, dir / "reference", 4);
  auto first = run_illume({"launch", "--nproc", "2", "--", "sft", "--config", recipe.string(), "run.steps=2"});
  ASSERT_EQ(first.status, 0) << first.err;
  auto second = run_illume({"sft", "--config", recipe.string(), "--resume"});
  ASSERT_EQ(second.status, 0) << second.err;
  EXPECT_NE(second.err.find("written by 2 rank(s), this run has 1; continuing"), std::string::npos) << second.err;
  ASSERT_EQ(run_illume({"sft", "--config", reference.string(), "run.steps=2"}).status, 0);
  const auto resumed = run_illume({"sft", "--config", reference.string(), "--resume"});
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_EQ(resumed.err.find("rank(s)"), std::string::npos) << "the same world size must not warn: " << resumed.err;
  ASSERT_EQ(metrics_rows(dir / "run").size(), 4u);
  compare_metrics(metrics_rows(dir / "reference"), metrics_rows(dir / "run"), 1e-5);
  EXPECT_LE(max_weight_difference(dir / "reference/final/model.safetensors", dir / "run/final/model.safetensors"), 1e-5);
}

// Two ranks started by hand (as torchrun would); rank 1 is killed (or stopped) once rank 0 logged a step.
struct TwoRanks {
  pid_t rank0 = -1, rank1 = -1;  // -1 once reaped
  fs::path err0, err1;
  ~TwoRanks() {  // a failed check leaves no process behind
    for (pid_t pid : {rank0, rank1})
      if (pid > 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
  }
};

void start_two_ranks(TwoRanks& t, const fs::path& dir, const std::string& timeout) {
  const auto recipe = write_sft_recipe(dir, dir / "run", 100000);
  const std::string port = std::to_string(free_port());
  t.err0 = dir / "rank0.err";
  t.err1 = dir / "rank1.err";
  for (int rank = 0; rank < 2; ++rank) {
    std::vector<std::pair<std::string, std::string>> env = {
        {"RANK", std::to_string(rank)}, {"LOCAL_RANK", std::to_string(rank)}, {"WORLD_SIZE", "2"},
        {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", port}};
    (rank == 0 ? t.rank0 : t.rank1) =
        spawn_illume({"sft", "--config", recipe.string(), "--dist-timeout", timeout}, env, rank == 0 ? t.err0 : t.err1);
  }
  // Until rank 0 logged its second step (the ranks are mid-run), at most 120 s.
  const auto t0 = Clock::now();
  while (Clock::now() - t0 < std::chrono::seconds(120)) {
    if (fs::exists(dir / "run/metrics.jsonl") && read_text(dir / "run/metrics.jsonl").find("\"step\":2") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

TEST(Distributed, KilledRankMakesTheOtherExitWithinTheTimeout) {
  const auto dir = scratch_dir();
  TwoRanks t;
  start_two_ranks(t, dir, "20");
  ASSERT_NE(read_text(dir / "run/metrics.jsonl").find("\"step\":2"), std::string::npos) << read_text(t.err0);
  ::kill(t.rank1, SIGKILL);
  ::waitpid(t.rank1, nullptr, 0);
  t.rank1 = -1;
  double seconds = 0;
  const int status = wait_for(t.rank0, std::chrono::seconds(40), &seconds);
  t.rank0 = -1;
  ASSERT_NE(status, -1) << "rank 0 still ran 40 s after rank 1 died";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0);
  EXPECT_LE(seconds, 25.0);
  const auto err = read_text(t.err0);
  const auto last = err.substr(err.rfind("illume: error:"));
  EXPECT_NE(last.find("rank 0 of 2"), std::string::npos) << err;
  EXPECT_NE(last.find("rank 1"), std::string::npos) << err;
  EXPECT_EQ(std::count(last.begin(), last.end(), '\n'), 1) << "not one line: " << last;
  std::printf("rank 0 exited %.1f s after rank 1 was killed: %s", seconds, last.c_str());
}

TEST(Distributed, HungRankMakesTheOtherExitAtTheTimeout) {
  const auto dir = scratch_dir();
  TwoRanks t;
  start_two_ranks(t, dir, "5");
  ASSERT_NE(read_text(dir / "run/metrics.jsonl").find("\"step\":2"), std::string::npos) << read_text(t.err0);
  ::kill(t.rank1, SIGSTOP);  // alive, connected, silent
  double seconds = 0;
  const int status = wait_for(t.rank0, std::chrono::seconds(40), &seconds);
  t.rank0 = -1;
  ASSERT_NE(status, -1) << "rank 0 still ran 40 s after rank 1 stopped (--dist-timeout 5)";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0);
  EXPECT_GE(seconds, 3.0);
  EXPECT_LE(seconds, 20.0);
  EXPECT_NE(read_text(t.err0).find("rank 0 of 2"), std::string::npos) << read_text(t.err0);
  std::printf("rank 0 exited %.1f s after rank 1 hung (--dist-timeout 5)\n", seconds);
}

TEST(Distributed, LaunchStopsTheOtherRanksAndNamesTheFailedOne) {
  const auto dir = scratch_dir();
  const auto recipe = write_sft_recipe(dir, dir / "run", 100000);
  const auto err = dir / "launch.err";
  const pid_t launcher = spawn_illume({"launch", "--nproc", "2", "--", "sft", "--config", recipe.string()}, {}, err);
  const auto t0 = Clock::now();
  while (Clock::now() - t0 < std::chrono::seconds(120) &&
         !(fs::exists(dir / "run/metrics.jsonl") && read_text(dir / "run/metrics.jsonl").find("\"step\":1") != std::string::npos))
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // The launcher's children, in rank order (forked in that order).
  std::vector<pid_t> children;
  std::ifstream list("/proc/" + std::to_string(launcher) + "/task/" + std::to_string(launcher) + "/children");
  for (pid_t pid; list >> pid;) children.push_back(pid);
  ASSERT_EQ(children.size(), 2u) << read_text(err);
  ::kill(children[1], SIGKILL);
  const int status = wait_for(launcher, std::chrono::seconds(60));
  ASSERT_NE(status, -1) << "launch still ran 60 s after rank 1 died";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0);
  const auto text = read_text(err);
  EXPECT_NE(text.find("rank 1 was killed by signal"), std::string::npos) << text;
  EXPECT_NE(text.find("illume: error: launch: rank 1 of 2 failed"), std::string::npos) << text;
  EXPECT_NE(::kill(children[0], 0), 0) << "rank 0 outlived the launcher";
}

// illume launch: N local copies of an illume command, one per rank, with torchrun's env:// variables.
//   illume launch --nproc N [--master-port P] [--master-addr A] -- train --config F.yaml [...]
// Each child gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT (and
// ILLUME_THREADS = cores / N unless set, so N processes do not oversubscribe the cores). The children
// run in a process group of their own, so a terminal's Ctrl-C reaches them once, forwarded from here
// (SIGINT and SIGTERM). When a child fails, the others are stopped (SIGTERM, then SIGKILL after a grace
// period) and launch exits non-zero naming the rank; otherwise it exits 0 (130 when interrupted).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/command.h"
#include "illume/util/error.h"

namespace {

volatile sig_atomic_t forwarded_signal = 0;

void remember_signal(int signal) { forwarded_signal = signal; }

// A port nobody listens on now (the kernel's choice); the children's rendezvous binds it shortly after.
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) illume::fail("launch: cannot open a socket to find a free port: {}", std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    illume::fail("launch: cannot find a free port: {}", std::strerror(errno));
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + ::strsignal(WTERMSIG(status));
  return "stopped";
}

struct Flags {
  int nproc = 2;
  int master_port = 0;  // 0: a free port
  std::string master_addr = "127.0.0.1";
  double grace_seconds = 10;
  std::vector<std::string> command;
};

int launch(const Flags& f) {
  if (f.nproc < 1) illume::fail("launch: --nproc must be at least 1, got {}", f.nproc);
  if (f.command.empty()) illume::fail("launch: give the command after --, e.g. illume launch --nproc 2 -- train --config F.yaml");
  const int port = f.master_port > 0 ? f.master_port : free_port();
  const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  const std::string threads = std::to_string(std::max<long>(1, cores / f.nproc));
  const bool threads_given = std::getenv("ILLUME_THREADS") != nullptr;

  struct sigaction action {};
  action.sa_handler = remember_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);

  std::vector<pid_t> children(static_cast<std::size_t>(f.nproc), -1);
  for (int rank = 0; rank < f.nproc; ++rank) {
    const pid_t pid = ::fork();
    if (pid < 0) illume::fail("launch: fork failed for rank {}: {}", rank, std::strerror(errno));
    if (pid == 0) {
      ::setpgid(0, 0);  // our own group: the terminal's Ctrl-C is forwarded once, by the parent
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(f.nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(f.nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", f.master_addr.c_str(), 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      if (!threads_given) ::setenv("ILLUME_THREADS", threads.c_str(), 1);
      std::vector<char*> argv;
      std::string self = "illume";
      argv.push_back(self.data());
      for (const auto& a : f.command) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      std::fprintf(stderr, "illume launch: rank %d: cannot run illume: %s\n", rank, std::strerror(errno));
      ::_exit(127);
    }
    children[static_cast<std::size_t>(rank)] = pid;
  }
  std::fprintf(stderr, "illume launch: %d ranks, rendezvous %s:%d%s\n", f.nproc, f.master_addr.c_str(), port,
               threads_given ? "" : (", ILLUME_THREADS=" + threads + " each").c_str());

  auto rank_of = [&](pid_t pid) {
    for (std::size_t r = 0; r < children.size(); ++r)
      if (children[r] == pid) return static_cast<int>(r);
    return -1;
  };
  auto signal_running = [&](int signal) {
    for (auto pid : children)
      if (pid > 0) ::kill(pid, signal);
  };
  int running = f.nproc;
  int failed_rank = -1, exit_code = 0;
  bool interrupted = false;
  std::chrono::steady_clock::time_point stop_deadline{};
  bool stopping = false;
  while (running > 0) {
    if (forwarded_signal != 0) {
      const int s = forwarded_signal;
      forwarded_signal = 0;
      interrupted = true;
      signal_running(s);
    }
    if (stopping && std::chrono::steady_clock::now() > stop_deadline) {
      signal_running(SIGKILL);
      stopping = false;
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno != EINTR) break;
    if (pid <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    const int rank = rank_of(pid);
    if (rank < 0) continue;
    children[static_cast<std::size_t>(rank)] = -1;
    --running;
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok || failed_rank >= 0) continue;
    if (interrupted && WIFEXITED(status) && WEXITSTATUS(status) == 130) {
      exit_code = 130;
      continue;
    }
    failed_rank = rank;
    exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (exit_code == 0) exit_code = 1;
    std::fprintf(stderr, "illume launch: rank %d %s%s\n", rank, describe(status).c_str(),
                 running > 0 ? "; stopping the other ranks" : "");
    if (running > 0) {
      signal_running(SIGTERM);
      stopping = true;
      stop_deadline = std::chrono::steady_clock::now() +
                      std::chrono::milliseconds(static_cast<std::int64_t>(f.grace_seconds * 1000));
    }
  }
  if (failed_rank >= 0) illume::fail("launch: rank {} of {} failed (exit status {})", failed_rank, f.nproc, exit_code);
  return exit_code;
}

void setup(CLI::App& app) {
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("launch", "Run an illume command as N local processes (data-parallel ranks)");
  cmd->add_option("--nproc", f->nproc, "processes (ranks) to start")->required()->check(CLI::Range(1, 1024));
  cmd->add_option("--master-port", f->master_port, "rendezvous port (default: a free one)")->check(CLI::Range(0, 65535));
  cmd->add_option("--master-addr", f->master_addr, "rendezvous address")->capture_default_str();
  cmd->add_option("--grace", f->grace_seconds, "seconds the other ranks get after SIGTERM before SIGKILL")
      ->capture_default_str();
  cmd->add_option("command", f->command, "the illume command each rank runs, after --")->required();
  cmd->callback([f] {
    const int code = launch(*f);
    if (code != 0) std::exit(code);
  });
}
ILLUME_COMMAND(setup);

}  // namespace

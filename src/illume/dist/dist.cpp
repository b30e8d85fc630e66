// The process group behind dist.h: c10d's TCPStore and ProcessGroupGloo / ProcessGroupNCCL.
//
// Both libtorch lines build this file. What differs between them:
//   - 1.13: the backends derive from c10d::ProcessGroup; 2.x: from c10d::Backend (ProcessGroup wraps
//     backends there). We hold the backend itself, so `Group` is whichever base the version has.
//   - The options (ProcessGroupGloo::Options with devices and a timeout, ProcessGroupNCCL::Options
//     with a timeout) and TCPStoreOptions have the same fields in both.
// Gloo needs gloo's headers at build time (ILLUME_HAVE_GLOO, set by CMake when it finds them; Debian:
// libgloo-dev); NCCL needs a CUDA libtorch and nccl.h (ILLUME_HAVE_NCCL). Without one, asking for it
// fails in one line.
#include "illume/dist/dist.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/version.h>
#ifdef ILLUME_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef ILLUME_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>
#include <map>
#include <memory>

#include "illume/util/error.h"

namespace illume::dist {
namespace {

#if TORCH_VERSION_MAJOR >= 2
using Group = c10d::Backend;
#else
using Group = c10d::ProcessGroup;
#endif

using Clock = std::chrono::steady_clock;

struct State {
  Environment environment;
  Options options;
  Backend backend = Backend::Auto;  // the one in use once active
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Group> group;
  double communication_seconds = 0;
};

// Never destroyed: after a failed collective a backend's destructor may wait for its threads, and a
// process that is exiting on an error must not hang there. finish() releases a healthy group.
State& state() {
  static State* s = new State();
  return *s;
}

int env_int(const char* name, int fallback, int lo, int hi) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi) fail("environment: {}={} is not an integer in [{}, {}]", name, v, lo, hi);
  return static_cast<int>(x);
}

std::string first_line(std::string message) {
  message = message.substr(0, message.find('\n'));
  while (!message.empty() && (message.back() == ' ' || message.back() == '\r')) message.pop_back();
  return message;
}

[[noreturn]] void collective_failed(const char* operation, const std::string& cause) {
  const auto& s = state();
  const int world = s.environment.world_size;
  const std::string peers = world == 2 ? fmt::format("rank {}", 1 - s.environment.rank) : std::string("a peer rank");
  fail("dist: rank {} of {}: {} failed ({} exited or hung; --dist-timeout {} s): {}", s.environment.rank, world,
       operation, peers, s.options.timeout.count(), first_line(cause));
}

// Runs one collective and waits for it, timing it and turning its failure into one line.
template <typename Start>
void run_collective(const char* operation, Start start) {
  auto& s = state();
  const auto t0 = Clock::now();
  try {
    auto work = start(*s.group);
    work->wait();
  } catch (const c10::Error& e) {
    collective_failed(operation, e.what_without_backtrace());
  } catch (const std::exception& e) {
    collective_failed(operation, e.what());
  }
  s.communication_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
}

// Where a collective's tensors must live: NCCL reduces CUDA tensors only.
at::Device collective_device() {
  const auto& s = state();
  return s.backend == Backend::Nccl ? at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(s.environment.local_rank))
                                    : at::Device(at::kCPU);
}

void all_reduce_doubles(std::vector<double>& values, c10d::ReduceOp op, const char* name) {
  if (!active() || values.empty()) return;
  auto buffer = at::tensor(values, at::TensorOptions().dtype(at::kDouble)).to(collective_device());
  std::vector<at::Tensor> tensors{buffer};
  c10d::AllreduceOptions o;
  o.reduceOp = op;
  run_collective(name, [&](Group& g) { return g.allreduce(tensors, o); });
  auto out = buffer.cpu();
  const double* p = out.data_ptr<double>();
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = p[i];
}

bool is_loopback(const std::string& address) {
  return address == "localhost" || address.rfind("127.", 0) == 0 || address == "::1";
}

}  // namespace

Backend parse_backend(const std::string& name) {
  if (name == "auto") return Backend::Auto;
  if (name == "gloo") return Backend::Gloo;
  if (name == "nccl") return Backend::Nccl;
  fail("--dist-backend: '{}' is not one of gloo, nccl, auto", name);
}

std::string backend_name(Backend backend) {
  switch (backend) {
    case Backend::Gloo: return "gloo";
    case Backend::Nccl: return "nccl";
    case Backend::Auto: break;
  }
  return "auto";
}

Environment read_environment() {
  Environment e;
  e.world_size = env_int("WORLD_SIZE", 1, 1, 1 << 20);
  e.rank = env_int("RANK", 0, 0, e.world_size - 1);
  e.local_rank = env_int("LOCAL_RANK", e.rank, 0, 1 << 20);
  if (const char* a = std::getenv("MASTER_ADDR"); a != nullptr && *a != '\0') e.master_addr = a;
  e.master_port = env_int("MASTER_PORT", e.master_port, 1, 65535);
  if (e.world_size > 1 && (std::getenv("RANK") == nullptr || std::getenv("MASTER_PORT") == nullptr))
    fail("environment: WORLD_SIZE={} needs RANK and MASTER_PORT too (the env:// convention of torchrun)", e.world_size);
  return e;
}

void init(const Options& options) {
  auto& s = state();
  if (s.group) return;
  s.environment = read_environment();
  s.options = options;
  if (s.environment.world_size == 1) return;
  const auto& e = s.environment;
  Backend backend = options.backend;
  if (backend == Backend::Auto) backend = options.cuda ? Backend::Nccl : Backend::Gloo;
  if (backend == Backend::Nccl && !options.cuda)
    fail("--dist-backend nccl: the model is on the CPU (model.device); NCCL reduces CUDA tensors, use gloo");
  const std::chrono::milliseconds timeout = options.timeout;
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(e.master_port);
    store_options.isServer = e.rank == 0;
    store_options.numWorkers = static_cast<std::size_t>(e.world_size);
    store_options.waitWorkers = true;
    store_options.timeout = timeout;
    s.store = c10::make_intrusive<c10d::TCPStore>(e.master_addr, store_options);
    if (backend == Backend::Gloo) {
#ifdef ILLUME_HAVE_GLOO
      auto o = c10d::ProcessGroupGloo::Options::create(timeout);
      // GLOO_SOCKET_IFNAME picks the interface as in torch.distributed; a loopback master means one host.
      if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname != nullptr && *ifname != '\0')
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (is_loopback(e.master_addr))
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      s.group = c10::make_intrusive<c10d::ProcessGroupGloo>(s.store, e.rank, e.world_size, o);
#else
      fail("--dist-backend gloo: this build of illume has no Gloo (gloo's headers were not found at build time; "
           "Debian: apt-get install libgloo-dev, then rebuild)");
#endif
    } else {
#ifdef ILLUME_HAVE_NCCL
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = timeout;
      s.group = c10::make_intrusive<c10d::ProcessGroupNCCL>(s.store, e.rank, e.world_size, o);
#else
      fail("--dist-backend nccl: this libtorch has no NCCL (a CPU build); use --dist-backend gloo");
#endif
    }
  } catch (const c10::Error& error) {
    fail("dist: rank {} of {}: rendezvous at {}:{} failed: {}", e.rank, e.world_size, e.master_addr, e.master_port,
         first_line(error.what_without_backtrace()));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& error) {
    fail("dist: rank {} of {}: rendezvous at {}:{} failed: {}", e.rank, e.world_size, e.master_addr, e.master_port,
         first_line(error.what()));
  }
  s.backend = backend;
  s.communication_seconds = 0;
}

void finish() {
  auto& s = state();
  if (!s.group) return;
  barrier();
  s.group.reset();
  s.store.reset();
}

bool active() { return static_cast<bool>(state().group); }
int rank() { return active() ? state().environment.rank : 0; }
int world_size() { return active() ? state().environment.world_size : 1; }
int local_rank() { return active() ? state().environment.local_rank : 0; }
bool is_main() { return rank() == 0; }
std::string backend() { return active() ? backend_name(state().backend) : "none"; }

void all_reduce_sum(std::vector<double>& values) { all_reduce_doubles(values, c10d::ReduceOp::SUM, "all_reduce"); }
void all_reduce_max(std::vector<double>& values) { all_reduce_doubles(values, c10d::ReduceOp::MAX, "all_reduce"); }

void all_reduce_sum(std::vector<at::Tensor>& tensors) {
  if (!active() || tensors.empty()) return;
  // Buckets of one dtype, bounded in bytes: a flat copy of their tensors, reduced in one call (a
  // bound, so the copy of a large model's gradients never doubles its memory at once).
  constexpr std::int64_t kBucketBytes = std::int64_t{64} << 20;
  const auto device = collective_device();
  std::map<at::ScalarType, std::vector<std::size_t>> by_dtype;
  for (std::size_t i = 0; i < tensors.size(); ++i) by_dtype[tensors[i].scalar_type()].push_back(i);
  auto reduce_bucket = [&](const std::vector<std::size_t>& members) {
    std::vector<at::Tensor> flat;
    for (auto i : members) flat.push_back(tensors[i].detach().reshape({-1}).to(device));
    std::vector<at::Tensor> bucket{at::cat(flat)};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    run_collective("all_reduce", [&](Group& g) { return g.allreduce(bucket, o); });
    std::int64_t offset = 0;
    for (auto i : members) {
      auto& t = tensors[i];
      const auto n = t.numel();
      t.detach().copy_(bucket[0].narrow(0, offset, n).view(t.sizes()));
      offset += n;
    }
  };
  for (auto& [dtype, members] : by_dtype) {
    std::vector<std::size_t> bucket;
    std::int64_t bytes = 0;
    for (auto i : members) {
      const auto size = static_cast<std::int64_t>(tensors[i].numel() * tensors[i].element_size());
      if (!bucket.empty() && bytes + size > kBucketBytes) {
        reduce_bucket(bucket);
        bucket.clear();
        bytes = 0;
      }
      bucket.push_back(i);
      bytes += size;
    }
    if (!bucket.empty()) reduce_bucket(bucket);
  }
}

void all_reduce_gradients(const std::vector<at::Tensor>& parameters) {
  if (!active()) return;
  std::vector<at::Tensor> gradients;
  for (auto parameter : parameters) {
    if (!parameter.grad().defined()) parameter.mutable_grad() = at::zeros_like(parameter);
    gradients.push_back(parameter.grad());
  }
  all_reduce_sum(gradients);
}

void broadcast(std::vector<at::Tensor>& tensors, int root) {
  if (!active() || tensors.empty()) return;
  const auto device = collective_device();
  for (auto& t : tensors) {
    std::vector<at::Tensor> one{t.detach().contiguous().to(device)};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    run_collective("broadcast", [&](Group& g) { return g.broadcast(one, o); });
    t.detach().copy_(one[0]);
  }
}

void barrier() {
  if (!active()) return;
  // A one-element all-reduce: the same rendezvous as barrier(), on both libtorch lines and backends.
  std::vector<double> token{0.0};
  all_reduce_doubles(token, c10d::ReduceOp::SUM, "barrier");
}

bool any(bool value) {
  if (!active()) return value;
  std::vector<double> flag{value ? 1.0 : 0.0};
  all_reduce_max(flag);
  return flag[0] > 0;
}

double communication_seconds() { return state().communication_seconds; }

}  // namespace illume::dist

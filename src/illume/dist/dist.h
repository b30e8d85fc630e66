// Several processes training one model (data parallelism) on PyTorch's own distributed engine, c10d:
// a TCPStore for the rendezvous and ProcessGroupGloo (CPU tensors) or ProcessGroupNCCL (CUDA tensors)
// for the collectives. No transport of our own.
//
// Rendezvous is torchrun's env:// convention, so torchrun, Slurm, Kubernetes and `illume launch`
// start illume unchanged: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT. Without them (or
// with WORLD_SIZE=1) there is no process group at all: every call below is a no-op that returns its
// input, so a single process behaves exactly as before.
//
// The group is process-wide, like torch.distributed's default group: init() once at start-up (the
// CLI's train and sft do), then the trainers ask rank() and call the collectives. Every rank must
// call the collectives in the same order with the same sizes.
//
// Faults: a collective that fails (a peer died: its connection closed) or does not complete within
// the timeout (a peer hangs) throws illume::Error with one line naming this rank, the operation and
// the cause, so the process exits non-zero instead of hanging.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace at {
class Tensor;
}

namespace illume::dist {

enum class Backend { Auto, Gloo, Nccl };  // Auto: NCCL for CUDA tensors, Gloo for CPU ones

struct Options {
  Backend backend = Backend::Auto;
  std::chrono::seconds timeout{600};  // a collective (or the rendezvous) waits at most this long
  bool cuda = false;                  // the model lives on a CUDA device (Auto then picks NCCL)
};

// "gloo" | "nccl" | "auto"; fails naming the value otherwise.
Backend parse_backend(const std::string& name);
std::string backend_name(Backend backend);

// The env:// variables as read (rank 0 of 1 when absent).
struct Environment {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};
// Fails (one line) on malformed or inconsistent values (RANK >= WORLD_SIZE, a port out of range).
Environment read_environment();

// Joins the process group of the environment (a no-op when WORLD_SIZE is absent or 1); a second call
// is a no-op. Fails (one line) when the backend is not in this libtorch (NCCL without CUDA, Gloo
// without its headers at build time) or the rendezvous times out.
void init(const Options& options);
// Leaves the group after a barrier (so no rank exits while another still waits for it).
void finish();

bool active();  // a process group with more than one rank exists
int rank();
int world_size();
int local_rank();
bool is_main();  // rank 0: the one that writes checkpoints, metrics and the dashboard's inputs
std::string backend();  // "gloo" | "nccl" | "none"

// Element-wise sums over the ranks, in place. The tensors (any dtype, one device) are flattened
// into buckets of one dtype and at most 64 MiB (one collective each), reduced, and copied back.
void all_reduce_sum(std::vector<double>& values);
void all_reduce_sum(std::vector<at::Tensor>& tensors);
// Sums the gradients of `parameters` over the ranks, in place (the trainers scale their local loss so
// that the sum is the gradient of the global batch's loss). A parameter without a gradient on this
// rank (no rows here) contributes zeros and gets the sum, so every rank updates the same tensors.
void all_reduce_gradients(const std::vector<at::Tensor>& parameters);
// Element-wise maxima over the ranks, in place.
void all_reduce_max(std::vector<double>& values);
// Every rank gets rank `root`'s tensors (same shapes and dtypes on every rank), in place.
void broadcast(std::vector<at::Tensor>& tensors, int root = 0);
void barrier();

// True on every rank when any rank passes true (e.g. a Ctrl-C seen by one rank stops all at the same
// step boundary).
bool any(bool value);

// Seconds this process spent inside collectives since init (the communication share of a step).
double communication_seconds();

}  // namespace illume::dist

#include "illume/util/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "illume/util/error.h"

namespace illume {

namespace {

// Opens an input for reading without blocking: O_NONBLOCK makes open() of a FIFO with no writer
// return at once (a plain open would wait forever), and only regular files are accepted, so a FIFO,
// a device or a folder named as an input is a clear error rather than a hang.
int open_regular_file(const std::filesystem::path& path, struct stat& st, const char* what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail("{}: cannot open ({})", path.string(), std::strerror(errno));
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const bool fifo = S_ISFIFO(st.st_mode), dir = S_ISDIR(st.st_mode);
    ::close(fd);
    fail("{}: cannot {} ({})", path.string(), what,
         dir ? "a folder, not a file" : fifo ? "a FIFO or pipe, not a regular file" : "not a regular file");
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

}  // namespace

std::string read_file(const std::filesystem::path& path) {
  struct stat st {};
  int fd = open_regular_file(path, st, "read");
  std::string out;
  out.reserve(static_cast<std::size_t>(st.st_size));
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      fail("{}: read failed ({})", path.string(), std::strerror(e));
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

void ensure_directory(const std::filesystem::path& path) {
  if (path.empty()) return;
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_directory(path, ec))
    fail("{}: cannot create folder (a file of that name exists)", path.string());
  std::filesystem::create_directories(path, ec);
  if (ec) fail("{}: cannot create folder ({})", path.string(), ec.message());
}

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  write_file_atomic(path, std::vector<std::string_view>{bytes});
}

void write_file_atomic(const std::filesystem::path& path, const std::vector<std::string_view>& pieces) {
  auto parent = path.parent_path();
  ensure_directory(parent);
  std::random_device rd;
  auto tmp = path;
  tmp += fmt::format(".tmp.{}.{:x}", ::getpid(), rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("{}: cannot write ({})", path.string(), std::strerror(errno));
  for (std::string_view bytes : pieces) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int e = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        fail("{}: write failed ({})", path.string(), std::strerror(e));
      }
      done += static_cast<std::size_t>(n);
    }
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    fail("{}: write failed ({})", path.string(), std::strerror(e));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    fail("{}: cannot replace ({})", path.string(), std::strerror(e));
  }
}

MappedFile::MappedFile(const std::filesystem::path& path, MapMode mode) : path_(path) {
  struct stat st {};
  int fd = open_regular_file(path, st, "map");
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ > 0) {
    // MAP_PRIVATE + PROT_WRITE needs only a read-only descriptor: writes stay in this process.
    int prot = mode == MapMode::CopyOnWrite ? (PROT_READ | PROT_WRITE) : PROT_READ;
    void* p = ::mmap(nullptr, size_, prot, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      fail("{}: cannot map ({})", path.string(), std::strerror(e));
    }
    data_ = static_cast<const std::uint8_t*>(p);
    writable_ = mode == MapMode::CopyOnWrite;
  }
  ::close(fd);
}

MappedFile::~MappedFile() { release(); }

void MappedFile::release() {
  if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
  writable_ = false;
}

MappedFile::MappedFile(MappedFile&& other) noexcept { *this = std::move(other); }

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    data_ = other.data_;
    size_ = other.size_;
    writable_ = other.writable_;
    other.data_ = nullptr;
    other.size_ = 0;
    other.writable_ = false;
  }
  return *this;
}

}  // namespace illume

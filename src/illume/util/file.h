// Files: whole-file reads, atomic writes, read-only memory maps. Every error names the path.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace illume {

// Reads a whole file; fails with "PATH: cannot open (reason)".
std::string read_file(const std::filesystem::path& path);

// Writes `bytes` to PATH atomically: a temp file in the same folder, fsync, rename.
// A reader sees the old file or the new one, never a half-written one.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);
// The same, for a file made of several pieces written one after another (no concatenated copy:
// checkpoints can be gigabytes).
void write_file_atomic(const std::filesystem::path& path, const std::vector<std::string_view>& pieces);

// Creates the folder (and parents); fails naming the path.
void ensure_directory(const std::filesystem::path& path);

// How a MappedFile maps its file.
//   ReadOnly:    PROT_READ. Writing through the pointer is a crash.
//   CopyOnWrite: PROT_READ|PROT_WRITE, MAP_PRIVATE. Writes go to private copies of the touched pages and
//                never reach the file, so zero-copy tensors over the map can be written safely. The
//                whole size counts towards the commit charge (matters only with vm.overcommit_memory=2).
enum class MapMode { ReadOnly, CopyOnWrite };

// A memory map of a whole file. Move-only.
class MappedFile {
 public:
  MappedFile() = default;
  explicit MappedFile(const std::filesystem::path& path, MapMode mode = MapMode::ReadOnly);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }
  bool writable() const { return writable_; }

 private:
  void release();
  std::filesystem::path path_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  bool writable_ = false;
};

}  // namespace illume

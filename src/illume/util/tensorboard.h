// TensorBoard event files: OUT/events.out.tfevents.<unix time>.<hostname>, read by
// `tensorboard --logdir OUT` (or a folder of runs).
//
// A file is a sequence of TFRecords, each
//   uint64 length (little-endian) | uint32 masked CRC32C of those 8 bytes | data | uint32 masked CRC32C of data
// (TensorFlow's tensorflow/core/lib/io/record_writer.cc), whose data is one serialised `Event`
// (proto/event.proto, TensorFlow's field numbers). The first event of a file carries
// file_version "brain.Event:2"; every later one carries one step's scalars as a Summary of
// {tag, simple_value} pairs. Torch-free; the protobuf types stay inside tensorboard.cpp.
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "illume/util/json.h"

namespace illume::tensorboard {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord uses; crc32c("123456789") = 0xE3069283.
std::uint32_t crc32c(std::string_view bytes);
// TFRecord's masking of a stored CRC (a CRC of data that holds CRCs is then still well spread):
// rotate right by 15 bits, add 0xa282ead8.
std::uint32_t mask_crc(std::uint32_t crc);
// One framed record: length, masked CRC of the length, data, masked CRC of the data.
std::string tfrecord(std::string_view data);

// The records of a TFRecord file, in order. Reading stops, without error, at a truncated last record
// (a run killed mid-write) or at the first record whose CRCs do not match (then `complete` is false).
struct Records {
  std::vector<std::string> data;
  bool complete = true;
};
Records read_tfrecords(const std::filesystem::path& path);

struct Scalar {
  std::string tag;
  double value = 0;
};
// The numeric values of a metrics row as TensorBoard scalars: nested objects flattened with "/"
// ({"reward": {"mean": 1}} -> "reward/mean"); "step" itself (the x axis), strings, booleans, nulls and
// arrays left out. NaN and +-inf are kept, as TensorBoard's own writers keep them (it plots them as
// such), rather than hiding a diverging run.
std::vector<Scalar> scalars_of(const Json& row);

// The serialised Events (proto/event.proto): a file's first, and one step's scalars.
std::string file_version_event(double wall_time);
std::string scalars_event(double wall_time, std::int64_t step, const std::vector<Scalar>& scalars);

// The events files in `folder` (names starting "events.out.tfevents."), sorted by name, which is the
// order TensorBoard reads them in (the Unix time is the name's first field).
std::vector<std::filesystem::path> event_files(const std::filesystem::path& folder);

// For a run resumed from its checkpoint at `step`: rewrites (atomically) each events file in
// `folder` without the scalar events of steps > step, which the resumed run logs again, so that every
// step appears once across the files, as in an uninterrupted run.
void trim_event_files(const std::filesystem::path& folder, std::int64_t step);
// For a fresh run: removes the events files of an earlier run in `folder` (its metrics.jsonl is
// replaced too).
void remove_event_files(const std::filesystem::path& folder);

// Writes a new events file in `folder`, flushed event by event (a kill loses at most the last record,
// which TensorBoard ignores and a resume trims).
class EventWriter {
 public:
  // Creates folder/events.out.tfevents.<unix time>.<hostname> (".1", ".2", ... appended when a file of
  // that name exists, e.g. a resume within the same second) and writes the file_version event.
  explicit EventWriter(const std::filesystem::path& folder);
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // One Event at `step` holding all `scalars` (nothing is written when there are none).
  void write_scalars(std::int64_t step, const std::vector<Scalar>& scalars);
  const std::filesystem::path& path() const { return path_; }

 private:
  void write_record(const std::string& data);
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

}  // namespace illume::tensorboard

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <initializer_list>
#include <ctime>
#include <fstream>
#include <limits>

#include "common.h"
#include "illume/util/file.h"
#include "illume/util/tensorboard.h"
#include "tensorboard_decode.h"

using namespace illume;
namespace fs = std::filesystem;

namespace {

std::string bytes_of(std::initializer_list<int> values) {
  std::string s;
  for (int v : values) s.push_back(static_cast<char>(v));
  return s;
}

double double_from_little_endian(const std::string& bytes) {
  std::uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) bits |= std::uint64_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
  double value;
  std::memcpy(&value, &bits, 8);
  return value;
}

}  // namespace

// CRC-32C check values: "123456789" (the catalogue's check value) and RFC 3720 (iSCSI), appendix B.4.
TEST(TensorBoard, Crc32cKnownVectors) {
  EXPECT_EQ(tensorboard::crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(tensorboard::crc32c(""), 0u);
  EXPECT_EQ(tensorboard::crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(tensorboard::crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(tensorboard::crc32c(ascending), 0x46DD794Eu);
}

TEST(TensorBoard, MaskRotatesRightFifteenAndAddsTheDelta) {
  EXPECT_EQ(tensorboard::mask_crc(0), 0xa282ead8u);
  // (0xE3069283 >> 15 | 0xE3069283 << 17) = 0x2507C60D; + 0xa282ead8 = 0xC78AB0E5 (mod 2^32).
  EXPECT_EQ(tensorboard::mask_crc(0xE3069283u), 0xC78AB0E5u);
}

// Whole records byte for byte as other writers wrote them: TensorFlow's
// tensorflow/python/summary/impl/event_file_loader_test.py (a file_version event) and
// tensorboard_logger's tests/test_tensorboard_logger.py (wall_time 256.5; scalars v/1 = 1.5 at step 1,
// v/22 = 16 at step 2).
TEST(TensorBoard, RecordsMatchTensorFlowsAndTensorboardLoggersBytes) {
  const auto tensorflow_wall_time = double_from_little_endian(bytes_of({0x00, 0x00, 0x00, 0x27, 0xe6, 0xb3, 0xd5, 0x41}));
  EXPECT_EQ(tensorboard::tfrecord(tensorboard::file_version_event(tensorflow_wall_time)),
            bytes_of({0x18, 0, 0, 0, 0, 0, 0, 0, 0xa3, 0x7f, 'K', '"', '\t', 0x00, 0x00, 0x00, '\'', 0xe6, 0xb3, 0xd5,
                      'A', 0x1a, '\r'}) +
                "brain.Event:2" + bytes_of({'j', 'M', 0x0b, 0x15}));

  const std::string logger_wall_time = bytes_of({'\t', 0, 0, 0, 0, 0, 0x08, 'p', '@'});
  EXPECT_EQ(tensorboard::tfrecord(tensorboard::file_version_event(256.5)),
            bytes_of({0x18, 0, 0, 0, 0, 0, 0, 0, 0xa3, 0x7f, 'K', '"'}) + logger_wall_time + "\x1a\rbrain.Event:2" +
                bytes_of({0xbc, 0x98, '!', '+'}));
  EXPECT_EQ(tensorboard::tfrecord(tensorboard::scalars_event(256.5, 1, {{"v/1", 1.5}})),
            bytes_of({0x19, 0, 0, 0, 0, 0, 0, 0, 0x8b, 0xf1, 0x08, '('}) + logger_wall_time +
                bytes_of({0x10, 0x01, '*', 0x0c, '\n', '\n', '\n', 0x03}) + "v/1" +
                bytes_of({0x15, 0x00, 0x00, 0xc0, '?', ',', 0xec, 0xc0, 0x87}));
  EXPECT_EQ(tensorboard::tfrecord(tensorboard::scalars_event(256.5, 2, {{"v/22", 16.0}})),
            bytes_of({0x1a, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x9b, 0xd8, '-'}) + logger_wall_time +
                bytes_of({0x10, 0x02, '*', '\r', '\n', 0x0b, '\n', 0x04}) + "v/22" +
                bytes_of({0x15, 0x00, 0x00, 0x80, 'A', 0x8f, 0xa3, 0xb6, 0x88}));
}

TEST(TensorBoard, ScalarsOfFlattensObjectsAndLeavesOutNonNumbers) {
  Json row = {{"step", 7},
              {"loss", 0.5},
              {"tokens", 1200},
              {"reward", {{"mean", 1.0}, {"std", {{"low", 2}}}}},
              {"name", "run"},
              {"stopped", true},
              {"lengths", {1, 2}},
              {"missing", nullptr},
              {"kl", std::numeric_limits<double>::quiet_NaN()}};
  const auto scalars = tensorboard::scalars_of(row);
  ASSERT_EQ(scalars.size(), 5u);
  // nlohmann objects iterate in key order.
  EXPECT_EQ(scalars[0].tag, "kl");
  EXPECT_TRUE(std::isnan(scalars[0].value));
  EXPECT_EQ(scalars[1].tag, "loss");
  EXPECT_EQ(scalars[1].value, 0.5);
  EXPECT_EQ(scalars[2].tag, "reward/mean");
  EXPECT_EQ(scalars[2].value, 1.0);
  EXPECT_EQ(scalars[3].tag, "reward/std/low");
  EXPECT_EQ(scalars[3].value, 2.0);
  EXPECT_EQ(scalars[4].tag, "tokens");
  EXPECT_EQ(scalars[4].value, 1200.0);
}

TEST(TensorBoard, WrittenFileDecodesWithProtocAgainstTheProtoFiles) {
  ILLUME_REQUIRE_PROTOC();
  const auto dir = test::scratch_dir();
  const auto before = std::time(nullptr);
  fs::path path;
  {
    tensorboard::EventWriter writer(dir / "run");
    path = writer.path();
    writer.write_scalars(1, {{"loss", 2.5}, {"reward/mean", 0.25}});
    writer.write_scalars(2, {});  // nothing to write
    writer.write_scalars(3, {{"loss", 1.125}, {"kl", -std::numeric_limits<double>::infinity()}});
  }
  // events.out.tfevents.<unix time>.<hostname>, as TensorFlow names them.
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const auto name = path.filename().string();
  ASSERT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
  const auto rest = name.substr(std::string("events.out.tfevents.").size());
  const auto dot = rest.find('.');
  const auto seconds = std::stoll(rest.substr(0, dot));
  EXPECT_GE(seconds, before);
  EXPECT_LE(seconds, std::time(nullptr));
  EXPECT_EQ(rest.substr(dot + 1), std::string(host));
  EXPECT_EQ(path.parent_path(), dir / "run");

  const auto events = test::decode_events_file(path);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_TRUE(events[0].values.empty());
  EXPECT_GE(events[0].wall_time, static_cast<double>(before));
  EXPECT_EQ(events[1].step, 1);
  ASSERT_EQ(events[1].values.size(), 2u);
  EXPECT_EQ(events[1].values[0].first, "loss");
  EXPECT_EQ(events[1].values[0].second, 2.5);
  EXPECT_EQ(events[1].values[1].first, "reward/mean");
  EXPECT_EQ(events[1].values[1].second, 0.25);
  EXPECT_GE(events[1].wall_time, events[0].wall_time);
  EXPECT_EQ(events[2].step, 3);
  ASSERT_EQ(events[2].values.size(), 2u);
  EXPECT_EQ(events[2].values[0].first, "loss");
  EXPECT_EQ(events[2].values[0].second, 1.125);
  EXPECT_EQ(events[2].values[1].first, "kl");
  EXPECT_EQ(events[2].values[1].second, -std::numeric_limits<double>::infinity());
}

TEST(TensorBoard, TrimDropsLaterStepsAndATornLastRecord) {
  ILLUME_REQUIRE_PROTOC();
  const auto dir = test::scratch_dir();
  fs::path first, second;
  {
    tensorboard::EventWriter writer(dir);
    first = writer.path();
    for (int step = 1; step <= 4; ++step) writer.write_scalars(step, {{"loss", step * 0.5}});
  }
  {
    // A kill in the middle of a record: half of one more step's record.
    const auto torn = tensorboard::tfrecord(tensorboard::scalars_event(1.0, 5, {{"loss", 9.0}}));
    std::ofstream out(first, std::ios::binary | std::ios::app);
    out.write(torn.data(), static_cast<std::streamsize>(torn.size() / 2));
  }
  {
    tensorboard::EventWriter writer(dir);  // a second file, never the first one reopened
    second = writer.path();
    writer.write_scalars(3, {{"loss", 7.0}});
    writer.write_scalars(4, {{"loss", 8.0}});
  }
  ASSERT_NE(first, second);
  EXPECT_EQ(tensorboard::event_files(dir), (std::vector<fs::path>{first, second}));

  tensorboard::trim_event_files(dir, 2);
  auto events = test::decode_events_file(first);  // fails on a torn record
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_EQ(events[1].step, 1);
  EXPECT_EQ(events[2].step, 2);
  EXPECT_EQ(events[2].values.at(0).second, 1.0);
  events = test::decode_events_file(second);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
}

TEST(TensorBoard, ReaderStopsAtABadChecksum) {
  const auto dir = test::scratch_dir();
  auto good = tensorboard::tfrecord("first");
  auto bad = tensorboard::tfrecord("second");
  bad[bad.size() - 1] ^= 1;
  write_file_atomic(dir / "f", good + bad + tensorboard::tfrecord("third"));
  const auto records = tensorboard::read_tfrecords(dir / "f");
  EXPECT_FALSE(records.complete);
  EXPECT_EQ(records.data, (std::vector<std::string>{"first"}));
}

TEST(TensorBoard, RemoveEventFilesLeavesOtherFiles) {
  const auto dir = test::scratch_dir();
  { tensorboard::EventWriter writer(dir); }
  write_file_atomic(dir / "metrics.jsonl", "{}\n");
  ASSERT_EQ(tensorboard::event_files(dir).size(), 1u);
  tensorboard::remove_event_files(dir);
  EXPECT_TRUE(tensorboard::event_files(dir).empty());
  EXPECT_TRUE(fs::exists(dir / "metrics.jsonl"));
}

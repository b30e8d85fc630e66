// Progress for long work: on a terminal a redrawn bar with rate and ETA; otherwise plain lines
// (at most one every few seconds, and the last), so logs of CI and nohup runs stay readable.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace illume {

class Progress {
 public:
  // total == 0 means unknown (no ETA). unit names what is counted ("tok", "step").
  Progress(std::string label, std::int64_t total, std::string unit = "it", bool enabled = true);
  ~Progress();
  void advance(std::int64_t n = 1, const std::string& status = "");
  void set(std::int64_t done, const std::string& status = "");
  // A resumed run starts at its checkpoint's step: the rate and ETA count only the work done from here.
  void resume_from(std::int64_t done);
  // Items per second since the start (or resume_from); 0 before any time has passed.
  double rate() const;
  void finish(const std::string& status = "");

 private:
  void draw(bool final);
  double rate_at(std::chrono::steady_clock::time_point now) const;
  std::string label_, unit_, status_;
  std::int64_t total_, done_ = 0, start_done_ = 0;
  bool enabled_, tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
  // The count and status of the last plain line: finish() does not print the same line again.
  std::int64_t drawn_done_ = -1;
  std::string drawn_status_;
};

// "12.5 tok/s"; below one per second "3.4 s/step".
std::string format_rate(double per_second, const std::string& unit);
// "1.2 s", "3 min 4 s", "1 h 02 min"
std::string format_duration(double seconds);

}  // namespace illume

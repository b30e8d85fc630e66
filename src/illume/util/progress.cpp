#include "illume/util/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace illume {

std::string format_duration(double seconds) {
  if (seconds < 0 || seconds != seconds) return "?";
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  auto s = static_cast<long long>(seconds + 0.5);
  if (s < 3600) return fmt::format("{} min {:02} s", s / 60, s % 60);
  return fmt::format("{} h {:02} min", s / 3600, (s % 3600) / 60);
}

Progress::Progress(std::string label, std::int64_t total, std::string unit, bool enabled)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(enabled),
      tty_(::isatty(STDERR_FILENO) == 1), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() {
  if (!finished_ && done_ > 0) finish();
}

void Progress::advance(std::int64_t n, const std::string& status) { set(done_ + n, status); }

std::string format_rate(double per_second, const std::string& unit) {
  // Slow work reads better as time per item (tqdm's convention): "14.2 s/step", not "0.1 step/s".
  if (per_second > 0 && per_second < 1) return fmt::format("{:.1f} s/{}", 1.0 / per_second, unit);
  return fmt::format("{:.1f} {}/s", per_second, unit);
}

void Progress::set(std::int64_t done, const std::string& status) {
  done_ = done;
  if (!status.empty()) status_ = status;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since >= (tty_ ? 0.1 : 5.0)) draw(false);
}

void Progress::resume_from(std::int64_t done) {
  done_ = done;
  start_done_ = done;
  start_ = std::chrono::steady_clock::now();
}

double Progress::rate() const { return rate_at(std::chrono::steady_clock::now()); }

double Progress::rate_at(std::chrono::steady_clock::time_point now) const {
  double elapsed = std::chrono::duration<double>(now - start_).count();
  return elapsed > 0 ? static_cast<double>(done_ - start_done_) / elapsed : 0.0;
}

void Progress::finish(const std::string& status) {
  if (finished_) return;
  if (!status.empty()) status_ = status;
  finished_ = true;
  // Plain lines (no terminal) are a log: when the last one already said where the work ended, a
  // second identical line (less its ETA) would only repeat it.
  if (!tty_ && drawn_done_ == done_ && drawn_status_ == status_) return;
  draw(true);
}

void Progress::draw(bool final) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  last_draw_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double rate = rate_at(now);
  std::string eta = (total_ > 0 && rate > 0 && !final)
                        ? format_duration(static_cast<double>(total_ - done_) / rate)
                        : "";
  std::string counts = total_ > 0 ? fmt::format("{}/{}", done_, total_) : fmt::format("{}", done_);
  std::string line;
  if (tty_) {
    std::string bar;
    if (total_ > 0) {
      int width = 24;
      int filled = static_cast<int>(width * std::min<double>(1.0, static_cast<double>(done_) / total_));
      bar = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
    }
    line = fmt::format("\r{} {}{} {} | {} | {}{}{}\x1b[K", label_, bar, counts, unit_, format_rate(rate, unit_),
                       format_duration(elapsed), eta.empty() ? "" : " ETA " + eta,
                       status_.empty() ? "" : " | " + status_);
    if (final) line += "\n";
  } else {
    line = fmt::format("{}: {} {} | {} | elapsed {}{}{}\n", label_, counts, unit_, format_rate(rate, unit_),
                       format_duration(elapsed), eta.empty() ? "" : " | ETA " + eta,
                       status_.empty() ? "" : " | " + status_);
  }
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  drawn_done_ = done_;
  drawn_status_ = status_;
}

}  // namespace illume

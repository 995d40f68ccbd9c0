#include "progress_bar.hpp"

#include <unistd.h>

#include <cstdio>

namespace alloy::cli {

ProgressBar::ProgressBar(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO)) {}

void ProgressBar::update(const JobProgress& p) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && p.done < p.total && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  constexpr int kWidth = 30;
  const double fraction = p.total ? static_cast<double>(p.done) / static_cast<double>(p.total) : 0;
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(kWidth, '.');
  const double rate = p.seconds > 0 ? static_cast<double>(p.bytes_read) / p.seconds / 1e9 : 0;
  std::fprintf(stderr, "\r  %-7s [%s] %llu/%llu", p.phase, bar.c_str(),
               static_cast<unsigned long long>(p.done), static_cast<unsigned long long>(p.total));
  if (p.bytes_read) std::fprintf(stderr, "  %.2f GB/s", rate);
  std::fprintf(stderr, "  %.1fs ", p.seconds);
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::finish() {
  if (drawn_) std::fprintf(stderr, "\r\033[K");
  drawn_ = false;
}

}  // namespace alloy::cli

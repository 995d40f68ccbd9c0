#include "compare/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "error.hpp"

namespace alloy {
namespace {

// Frames on the pipe: one kind byte, a 4-byte length, the bytes.
enum FrameKind : char { kMessage = 'M', kResult = 'R', kError = 'E' };

bool write_all(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

void send_frame(int fd, FrameKind kind, const std::string& payload) {
  const uint32_t size = static_cast<uint32_t>(payload.size());
  write_all(fd, &kind, 1) && write_all(fd, &size, sizeof size) &&
      write_all(fd, payload.data(), payload.size());
}

// Accumulates bytes from the child and hands out whole frames.
class FrameReader {
 public:
  void append(const char* data, size_t size) { buffer_.append(data, size); }
  bool next(char* kind, std::string* payload) {
    if (buffer_.size() < 5) return false;
    uint32_t size = 0;
    std::memcpy(&size, buffer_.data() + 1, sizeof size);
    if (buffer_.size() < 5 + static_cast<size_t>(size)) return false;
    *kind = buffer_[0];
    payload->assign(buffer_, 5, size);
    buffer_.erase(0, 5 + static_cast<size_t>(size));
    return true;
  }

 private:
  std::string buffer_;
};

std::string death_text(int status) {
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(signal);
    const char* description = sigdescr_np(signal);
    return fmt::format("the process crashed: SIG{} ({})",
                       abbrev ? abbrev : std::to_string(signal).c_str(),
                       description ? description : "unknown signal");
  }
  return fmt::format("the process exited with status {} without a result", WEXITSTATUS(status));
}

}  // namespace

ChildOutcome run_in_child(const std::function<std::string(const ChildSend& send)>& work,
                          const std::function<void(const std::string& message)>& on_message,
                          const std::atomic<bool>* cancel) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    fail(ALLOY_ERR_IO, "cannot create a pipe to a child process: {}", std::strerror(errno));
  }
  std::fflush(nullptr);  // or the child would print the parent's buffered output again
  const auto start = std::chrono::steady_clock::now();
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    fail(ALLOY_ERR_IO, "cannot start a child process: {}", std::strerror(errno));
  }
  if (child == 0) {
    // The parent's handlers (a flag a cancelled job polls) mean nothing here: interrupting or
    // terminating the child ends it, and its work is redone on the next run.
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::close(fds[0]);
    const int out = fds[1];
    int code = 0;
    try {
      const std::string result =
          work([out](const std::string& message) { send_frame(out, kMessage, message); });
      send_frame(out, kResult, result);
    } catch (const std::exception& e) {
      send_frame(out, kError, e.what());
      code = 1;
    }
    std::fflush(nullptr);
    ::_exit(code);  // no exit handlers or static destructors: they belong to the parent
  }

  ::close(fds[1]);
  ChildOutcome outcome;
  FrameReader reader;
  bool got_answer = false, cancelled = false;
  char buffer[1 << 16];
  for (;;) {
    if (cancel && cancel->load() && !cancelled) {
      ::kill(child, SIGTERM);
      cancelled = true;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, 100);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // end of file: the child is gone
    reader.append(buffer, static_cast<size_t>(n));
    char kind = 0;
    std::string payload;
    while (reader.next(&kind, &payload)) {
      if (kind == kMessage) {
        if (on_message) on_message(payload);
      } else {
        got_answer = true;
        outcome.ok = kind == kResult;
        (outcome.ok ? outcome.result : outcome.error) = std::move(payload);
      }
    }
  }
  ::close(fds[0]);

  int status = 0;
  rusage usage{};
  while (::wait4(child, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  outcome.peak_rss_bytes = static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // Linux: kilobytes
  if (cancelled) {
    outcome.ok = false;
    outcome.error = "cancelled";
  } else if (!got_answer) {
    outcome.ok = false;
    outcome.error = death_text(status);
  }
  return outcome;
}

}  // namespace alloy

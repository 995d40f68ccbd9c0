#include "isolation.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "error.hpp"

namespace alloy::cli {
namespace {

constexpr int kThreadSlots = 64;
constexpr int kActivityBytes = 240;
constexpr int kSignals[] = {SIGSEGV, SIGABRT, SIGFPE, SIGILL, SIGSYS, SIGTRAP};

// Shared between the child that writes it and the parent that reads it after the child died.
struct SharedLog {
  std::atomic<int> next_slot;
  std::atomic<int> crashed_slot;  // -1: no crash handler ran
  std::atomic<int> crashed_signal;
  char activity[kThreadSlots][kActivityBytes];
};

SharedLog* g_log = nullptr;
thread_local int t_slot = -1;
std::atomic<pid_t> g_child{0};

extern "C" void on_crash(int signal) {
  // Async-signal-safe only: atomics, sigaction, raise.
  if (g_log) {
    g_log->crashed_slot.store(t_slot, std::memory_order_relaxed);
    g_log->crashed_signal.store(signal, std::memory_order_relaxed);
  }
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  ::sigaction(signal, &fallback, nullptr);
  ::raise(signal);  // delivered with the default action once this handler returns
}

extern "C" void pass_to_child(int signal) {
  const pid_t child = g_child.load();
  if (child > 0) ::kill(child, signal);
}

void install_crash_handlers() {
  for (const int signal : kSignals) {
    struct sigaction action {};
    action.sa_handler = on_crash;
    action.sa_flags = SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    ::sigaction(signal, &action, nullptr);
  }
}

std::string signal_text(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  const char* description = sigdescr_np(signal);
  return fmt::format("SIG{} ({})", abbrev ? abbrev : std::to_string(signal).c_str(),
                     description ? description : "unknown signal");
}

// What the strategy was doing when the child died: the crashing thread's activity when a crash
// handler ran (empty: the thread was not inside the strategy), else every call in progress (a
// SIGKILL, say, runs no handler).
std::string blame(const SharedLog& log) {
  const int crashed = log.crashed_slot.load();
  if (crashed >= 0 && crashed < kThreadSlots) return log.activity[crashed];
  std::string all;
  const int used = std::min(log.next_slot.load(), kThreadSlots);
  for (int slot = 0; slot < used; ++slot) {
    if (!log.activity[slot][0]) continue;
    all += all.empty() ? "" : " or ";
    all += log.activity[slot];
  }
  return all;
}

}  // namespace

void ActivityLog::record(const std::string& activity) {
  if (!g_log) return;
  if (t_slot < 0) t_slot = g_log->next_slot.fetch_add(1) % kThreadSlots;
  // Only this thread writes its slot, and the parent reads it once the child is gone.
  char* line = g_log->activity[t_slot];
  const std::size_t n = std::min<std::size_t>(activity.size(), kActivityBytes - 1);
  std::memcpy(line, activity.data(), n);
  line[n] = '\0';
}

IsolatedOutcome run_isolated(const std::function<int()>& job) {
  void* shared =
      ::mmap(nullptr, sizeof(SharedLog), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) {
    fail(ALLOY_ERR_OUT_OF_MEMORY, "--isolate: cannot map shared memory: {}", std::strerror(errno));
  }
  auto* log = new (shared) SharedLog{};
  log->crashed_slot = -1;
  std::fflush(nullptr);  // or the child would print the parent's buffered output again
  const pid_t child = ::fork();
  if (child < 0) {
    ::munmap(shared, sizeof(SharedLog));
    fail(ALLOY_ERR_IO, "--isolate: cannot start a child process: {}", std::strerror(errno));
  }
  if (child == 0) {
    g_log = log;
    install_crash_handlers();
    int code = 1;
    try {
      code = job();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "alloy: error: %s\n", e.what());
    }
    std::fflush(nullptr);
    ::_exit(code);  // no exit handlers: they belong to the parent
  }

  g_child = child;
  struct sigaction pass {
  }, old_int{}, old_term{};
  pass.sa_handler = pass_to_child;
  sigemptyset(&pass.sa_mask);
  ::sigaction(SIGINT, &pass, &old_int);
  ::sigaction(SIGTERM, &pass, &old_term);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  g_child = 0;

  IsolatedOutcome outcome;
  outcome.child = child;
  if (WIFEXITED(status)) {
    outcome.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    outcome.exit_code = 1;
    outcome.crashed = true;
    outcome.signal = signal_text(WTERMSIG(status));
    outcome.activity = blame(*log);
  }
  log->~SharedLog();
  ::munmap(shared, sizeof(SharedLog));
  return outcome;
}

}  // namespace alloy::cli

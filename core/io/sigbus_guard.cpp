#include "io/sigbus_guard.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

namespace alloy::sigbus_guard {
namespace {

// A fixed table, so the signal handler reads it without locks or allocation. A model set of
// hundreds of shards fits with room to spare.
constexpr int kSlots = 4096;

struct Slot {
  std::atomic<bool> used{false};
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};  // 0 while the slot is being filled or emptied
  std::atomic<uint64_t> damaged_at{kIntact};
};

Slot g_slots[kSlots];
std::atomic<uint64_t> g_damage_count{0};
struct sigaction g_previous;
uintptr_t g_page_size = 4096;

// Hands a SIGBUS that is not ours to whoever handled it before alloy did.
void pass_on(int signal, siginfo_t* info, void* context) {
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction) g_previous.sa_sigaction(signal, info, context);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(signal);
    return;
  }
  // Default action: reinstall it and return; the faulting instruction runs again and the
  // kernel delivers the signal with its default effect (a core dump), as without alloy.
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  ::sigaction(signal, &fallback, nullptr);
}

extern "C" void on_sigbus(int signal, siginfo_t* info, void* context) {
  // Only faults the kernel raised (si_code > 0) carry an address; kill(2) does not.
  if (info && info->si_code > 0) {
    const auto address = reinterpret_cast<uintptr_t>(info->si_addr);
    for (Slot& slot : g_slots) {
      const uintptr_t begin = slot.begin.load(std::memory_order_acquire);
      const uintptr_t end = slot.end.load(std::memory_order_acquire);
      if (end == 0 || address < begin || address >= end) continue;
      // Zero pages from the faulting page to the end of the mapping: the file ends before
      // them, so every later page would fault too. mmap is a plain system call here.
      const uintptr_t page = address & ~(g_page_size - 1);
      void* replaced = ::mmap(reinterpret_cast<void*>(page), end - page, PROT_READ,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      if (replaced == MAP_FAILED) break;
      uint64_t previous = slot.damaged_at.load(std::memory_order_relaxed);
      const uint64_t offset = address - begin;
      while (offset < previous &&
             !slot.damaged_at.compare_exchange_weak(previous, offset, std::memory_order_release)) {
      }
      g_damage_count.fetch_add(1, std::memory_order_release);
      return;
    }
  }
  pass_on(signal, info, context);
}

void install() {
  g_page_size = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  struct sigaction action {};
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, &g_previous);
}

}  // namespace

int watch(const void* begin, uint64_t size) {
  static std::once_flag installed;
  std::call_once(installed, install);
  if (begin == nullptr || size == 0) return -1;
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (!g_slots[i].used.compare_exchange_strong(expected, true)) continue;
    g_slots[i].damaged_at.store(kIntact, std::memory_order_relaxed);
    g_slots[i].begin.store(reinterpret_cast<uintptr_t>(begin), std::memory_order_release);
    g_slots[i].end.store(reinterpret_cast<uintptr_t>(begin) + size, std::memory_order_release);
    return i;
  }
  return -1;
}

void unwatch(int handle) {
  if (handle < 0 || handle >= kSlots) return;
  g_slots[handle].end.store(0, std::memory_order_release);
  g_slots[handle].begin.store(0, std::memory_order_release);
  g_slots[handle].used.store(false, std::memory_order_release);
}

uint64_t damaged_at(int handle) {
  if (handle < 0 || handle >= kSlots) return kIntact;
  return g_slots[handle].damaged_at.load(std::memory_order_acquire);
}

uint64_t damage_count() { return g_damage_count.load(std::memory_order_acquire); }

}  // namespace alloy::sigbus_guard

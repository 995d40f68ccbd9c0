// Keeps a file that shrinks while it is mapped from killing the process. Reading a page of a
// mapping past the end of its file raises SIGBUS, and another program may truncate or rewrite a
// checkpoint while alloy merges it. Tensors are read straight from the mapping, by the host's
// kernels, by oneDNN and by plugins, so no single read site can check sizes first.
//
// Instead every mapping is watched: a SIGBUS inside a watched range replaces the rest of the
// mapping with zero pages (so the faulting read completes and the program goes on) and records
// where the file ended. The merge job checks for damage before it writes anything computed
// from the inputs and fails naming the file and tensor. A SIGBUS anywhere else goes to the
// handler that was installed before (the default one kills the process, as it would have).
#pragma once

#include <cstdint>

namespace alloy::sigbus_guard {

constexpr uint64_t kIntact = UINT64_MAX;

// Starts watching [begin, begin + size), a read-only mapping. Returns a handle for the calls
// below, or -1 when too many mappings are watched already (reads of that one stay unguarded).
// Installs the SIGBUS handler on first use.
int watch(const void* begin, uint64_t size);
// Stops watching; call before unmapping.
void unwatch(int handle);
// kIntact, or the offset in the mapping of the first byte a read could not reach.
uint64_t damaged_at(int handle);
// How many watched mappings have been damaged so far in this process (cheap to poll).
uint64_t damage_count();

}  // namespace alloy::sigbus_guard

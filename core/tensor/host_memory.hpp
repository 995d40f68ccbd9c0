// Host memory for tensors. Large blocks are recycled through a small bounded pool: a merge
// allocates the same few tensor sizes over and over, and handing each back to the kernel
// (munmap) only to fault in and zero fresh pages for the next tensor costs more than the merge
// arithmetic itself.
#pragma once

#include <cstdint>

namespace alloy {

// 64-byte aligned, NOT zeroed. Throws alloy::Error(ALLOY_ERR_OUT_OF_MEMORY).
void* host_allocate(uint64_t bytes);
// `bytes` must be the size given to host_allocate.
void host_free(void* data, uint64_t bytes) noexcept;

}  // namespace alloy

// Tensor memory reuse on the CPU: LibTorch's CPU allocator is plain malloc.
// By default glibc maps each block over its mmap threshold on its own and
// unmaps it on free, and gives the heap's free top back to the kernel past
// its trim threshold. Both start at 128 KiB and rise only as large blocks are
// freed (the trim threshold to twice the mmap threshold). A forward pass frees
// and allocates megabytes of temporaries per operation, more in all than that,
// so allocations kept coming back as fresh pages that fault and are zeroed on
// first touch (docs/model.md has the measured cost).
//
// keep_freed_tensor_memory() fixes both thresholds high: blocks up to 32 MiB
// (glibc's ceiling for the mmap threshold) come from the heap, and up to
// 1 GiB of freed heap top stays mapped. A process's resident memory then
// stays near its peak instead of falling between steps; a trainer or a worker
// needs that peak again on its next step anyway. Blocks over 32 MiB are still
// mapped per allocation. A user's own malloc settings (GLIBC_TUNABLES with
// glibc.malloc.*, MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_) win: then
// this does nothing. A no-op outside glibc.
#pragma once

namespace deltarl {

// Call once, early, from the main thread of a process that runs models.
// Returns whether the settings were applied.
bool keep_freed_tensor_memory();

}  // namespace deltarl

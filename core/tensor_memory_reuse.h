// Tensor memory reuse on the CPU: LibTorch's CPU allocator is plain malloc.
// glibc hands every block over its mmap threshold (128 KiB at first, raised
// only as such blocks are freed) straight back to the kernel on free, and
// trims the heap's free top past 128 KiB. A forward pass frees and allocates
// megabytes of temporaries per operation, so each allocation comes back as
// fresh pages that fault and are zeroed on first touch: a batch-64 prefill of
// the `small` preset took 155 ms instead of 100 (bench/rollout_bench, 2 cores).
//
// keep_freed_tensor_memory() tells malloc to keep what it frees for reuse
// (blocks up to 32 MiB, glibc's ceiling for the threshold, come from the heap;
// up to 1 GiB of freed heap top stays mapped). A process's resident memory
// then stays near its peak instead of falling between steps; a trainer or a
// worker needs that peak again on its next step anyway. Blocks over 32 MiB
// are still mapped per allocation. A no-op outside glibc.
#pragma once

namespace deltarl {

// Call once, early, from the main thread of a process that runs models.
void keep_freed_tensor_memory();

}  // namespace deltarl

// Compute threads: LibTorch's intra-op parallelism (and the BLAS under it)
// runs on OpenMP thread pools, one pool per thread that issues tensor work.
// libgomp stops spin-waiting in EVERY pool once the process's pooled threads
// outnumber its cores; each parallel region then waits on a futex wake-up.
// A rollout worker has a loading thread, a decoding thread and upload
// threads: with two pools alive, decoding at batch 1 ran 3-4x slower
// (bench/rollout_bench, 2 cores). So a thread that is done with tensor work
// for a while gives its pool back:
//
//   load the model ...;  release_compute_threads();   // main thread, before serving
//
// The next tensor operation on that thread builds a new pool (a thread start,
// microseconds). Written for GNU libgomp (Debian's LibTorch and the torch
// wheel), where a soft pause frees the calling thread's pool only and keeps its
// settings. Under LLVM's or Intel's runtime the pause is process-wide: still
// correct (pools are rebuilt on demand), it may cost other threads a restart.
// A no-op where the first OpenMP runtime loaded lacks OpenMP 5.0's
// omp_pause_resource_all or LibTorch does not use OpenMP.
#pragma once

namespace deltarl {

// The logical CPUs this process may run on (its affinity mask, so taskset,
// cgroups and `srun --cpus-per-task` count), at least 1. LibTorch's default
// thread count is the PHYSICAL cores: one on a 2-vCPU machine whose vCPUs are
// a core's two hyperthreads. deltarl's processes default to this instead.
int available_cpus();

// Frees the calling thread's OpenMP worker threads. Must not be called inside
// a parallel region (tensor operations never return into one).
void release_compute_threads();

// How many threads at::parallel_for splits a large range over in deltarl's own
// kernels: LibTorch's intra-op thread count where deltarl was built with
// OpenMP (at::parallel_for is a header template that forks only in files
// compiled with it) or LibTorch uses its native pool; 1 with an OpenMP
// LibTorch and deltarl built without. Tests and diagnostics use it.
int parallel_for_threads();

}  // namespace deltarl

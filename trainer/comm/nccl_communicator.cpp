#include "trainer/comm/nccl_communicator.h"

#include <c10/util/Exception.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>

#include "trainer/comm/internal/mpi_check.h"
#include "trainer/comm/internal/nccl_check.h"

#ifdef DELTARL_TORCH_HAS_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

namespace deltarl {

namespace {

ncclDataType_t nccl_datatype(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32: return ncclFloat32;
    case torch::kFloat64: return ncclFloat64;
    case torch::kFloat16: return ncclFloat16;
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 10, 0)
    case torch::kBFloat16: return ncclBfloat16;
#endif
    case torch::kInt32: return ncclInt32;
    case torch::kInt64: return ncclInt64;
    case torch::kInt8: return ncclInt8;
    case torch::kUInt8: return ncclUint8;
    default: TORCH_CHECK(false, "NcclCommunicator: unsupported dtype ", type);
  }
}

// The stream the caller's (LibTorch's) work is queued on. A LibTorch without
// CUDA cannot make CUDA tensors, so the legacy default stream is only a fallback
// that keeps this file compiling there.
cudaStream_t caller_stream(int device_index) {
#ifdef DELTARL_TORCH_HAS_CUDA
  return c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_index)).stream();
#else
  (void)device_index;
  return cudaStreamLegacy;
#endif
}

// Between two polls of a GPU wait: short, since a barrier's latency is this.
constexpr std::chrono::microseconds kPollInterval{100};

}  // namespace

NcclCommunicator::NcclCommunicator(const MpiCommunicator& bootstrap, int device_index)
    : device_index_(device_index), rank_(bootstrap.rank()), world_size_(bootstrap.world_size()) {
  int device_count = 0;
  DELTARL_CUDA_CHECK(cudaGetDeviceCount(&device_count));
  if (device_index < 0 || device_index >= device_count) {
    throw std::runtime_error("rank " + std::to_string(rank_) + ": CUDA device " +
                             std::to_string(device_index) + " requested but this host has " +
                             std::to_string(device_count) +
                             " (more ranks per host than GPUs? check -npernode / --gpus-per-task)");
  }
  DELTARL_CUDA_CHECK(cudaSetDevice(device_index_));
  ncclUniqueId id;
  if (rank_ == 0) DELTARL_NCCL_CHECK(ncclGetUniqueId(&id), nullptr);
  DELTARL_MPI_CHECK(MPI_Bcast(&id, sizeof(id), MPI_BYTE, /*root=*/0, bootstrap.handle()));
  DELTARL_NCCL_CHECK(ncclCommInitRank(&comm_, world_size_, id, rank_), nullptr);
  DELTARL_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  DELTARL_CUDA_CHECK(cudaEventCreateWithFlags(&inputs_ready_, cudaEventDisableTiming));
  DELTARL_CUDA_CHECK(cudaEventCreateWithFlags(&collective_done_, cudaEventDisableTiming));
}

void NcclCommunicator::release() noexcept {
  if (comm_ != nullptr) {
    cudaSetDevice(device_index_);
    // Let queued collectives finish, but not wait forever for a peer that died:
    // NCCL reports that as an asynchronous error, and then aborting is the way out.
    bool failed = false;
    while (stream_ != nullptr && cudaStreamQuery(stream_) == cudaErrorNotReady) {
      if (async_error_state() != ncclSuccess) {
        failed = true;
        break;
      }
      std::this_thread::sleep_for(kPollInterval);
    }
    if (failed || async_error_state() != ncclSuccess) {
      ncclCommAbort(comm_);
    } else {
      ncclCommDestroy(comm_);
    }
  }
  if (inputs_ready_ != nullptr) cudaEventDestroy(inputs_ready_);
  if (collective_done_ != nullptr) cudaEventDestroy(collective_done_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
  comm_ = nullptr;
  stream_ = nullptr;
  inputs_ready_ = collective_done_ = nullptr;
}

NcclCommunicator::~NcclCommunicator() { release(); }

NcclCommunicator::NcclCommunicator(NcclCommunicator&& other) noexcept
    : comm_(std::exchange(other.comm_, nullptr)),
      aborted_(std::exchange(other.aborted_, false)),
      stream_(std::exchange(other.stream_, nullptr)),
      inputs_ready_(std::exchange(other.inputs_ready_, nullptr)),
      collective_done_(std::exchange(other.collective_done_, nullptr)),
      device_index_(other.device_index_),
      rank_(other.rank_),
      world_size_(other.world_size_) {}

NcclCommunicator& NcclCommunicator::operator=(NcclCommunicator&& other) noexcept {
  if (this != &other) {
    release();
    comm_ = std::exchange(other.comm_, nullptr);
    aborted_ = std::exchange(other.aborted_, false);
    stream_ = std::exchange(other.stream_, nullptr);
    inputs_ready_ = std::exchange(other.inputs_ready_, nullptr);
    collective_done_ = std::exchange(other.collective_done_, nullptr);
    device_index_ = other.device_index_;
    rank_ = other.rank_;
    world_size_ = other.world_size_;
  }
  return *this;
}

ncclResult_t NcclCommunicator::async_error_state() const noexcept {
  ncclResult_t state = ncclSuccess;
  const ncclResult_t query = ncclCommGetAsyncError(comm_, &state);
  if (query != ncclSuccess) return query;
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 14, 0)
  if (state == ncclInProgress) return ncclSuccess;
#endif
  return state;
}

void NcclCommunicator::abort_on_async_error(ncclResult_t state, const char* operation) {
  std::string detail = ncclGetErrorString(state);
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 13, 0)
  const char* last = ncclGetLastError(comm_);  // before the abort frees comm_
  if (last != nullptr && *last != '\0') detail += std::string(" (") + last + ")";
#endif
  ncclCommAbort(comm_);
  comm_ = nullptr;
  aborted_ = true;
  throw std::runtime_error("rank " + std::to_string(rank_) + ": NCCL reported an asynchronous error during " +
                           operation + ": " + detail +
                           "; the NCCL communicator was aborted. This may indicate a crashed peer rank or a "
                           "network failure between hosts (try NCCL_DEBUG=INFO).");
}

void NcclCommunicator::check_async_error() {
  if (aborted_) {
    throw std::runtime_error("rank " + std::to_string(rank_) +
                             ": the NCCL communicator was aborted after an earlier asynchronous error");
  }
  if (comm_ == nullptr) return;  // moved from
  if (const ncclResult_t state = async_error_state(); state != ncclSuccess) {
    abort_on_async_error(state, "check_async_error");
  }
}

cudaStream_t NcclCommunicator::begin_collective(const char* operation) {
  if (aborted_ || comm_ == nullptr) {
    throw std::runtime_error("rank " + std::to_string(rank_) + ": NcclCommunicator::" + operation + ": " +
                             (aborted_ ? "the communicator was aborted after an earlier asynchronous error"
                                       : "the communicator was moved from"));
  }
  DELTARL_CUDA_CHECK(cudaSetDevice(device_index_));
  cudaStream_t caller = caller_stream(device_index_);
  DELTARL_CUDA_CHECK(cudaEventRecord(inputs_ready_, caller));
  DELTARL_CUDA_CHECK(cudaStreamWaitEvent(stream_, inputs_ready_, 0));
  return caller;
}

void NcclCommunicator::end_collective(cudaStream_t caller, const char* operation) {
  DELTARL_CUDA_CHECK(cudaEventRecord(collective_done_, stream_));
  DELTARL_CUDA_CHECK(cudaStreamWaitEvent(caller, collective_done_, 0));
  if (const ncclResult_t state = async_error_state(); state != ncclSuccess) abort_on_async_error(state, operation);
}

static void check_cuda_tensor(const torch::Tensor& tensor, int device_index, const char* operation) {
  TORCH_CHECK(tensor.is_cuda() && tensor.get_device() == device_index, "NcclCommunicator::",
              operation, ": tensor must be on cuda:", device_index, ", got ", tensor.device());
  TORCH_CHECK(tensor.is_contiguous(), "NcclCommunicator::", operation, ": tensor must be contiguous");
}

void NcclCommunicator::all_reduce_sum(torch::Tensor& tensor) {
  check_cuda_tensor(tensor, device_index_, "all_reduce_sum");
  cudaStream_t caller = begin_collective("all_reduce_sum");
  DELTARL_NCCL_CHECK(ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(),
                                   static_cast<size_t>(tensor.numel()),
                                   nccl_datatype(tensor.scalar_type()), ncclSum, comm_, stream_),
                     comm_);
  end_collective(caller, "all_reduce_sum");
}

void NcclCommunicator::broadcast(torch::Tensor& tensor, int root) {
  check_cuda_tensor(tensor, device_index_, "broadcast");
  TORCH_CHECK(root >= 0 && root < world_size_, "NcclCommunicator::broadcast: root ", root,
              " outside world of size ", world_size_);
  cudaStream_t caller = begin_collective("broadcast");
  DELTARL_NCCL_CHECK(ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(),
                                   static_cast<size_t>(tensor.numel()),
                                   nccl_datatype(tensor.scalar_type()), root, comm_, stream_),
                     comm_);
  end_collective(caller, "broadcast");
}

torch::Tensor NcclCommunicator::all_gather(const torch::Tensor& tensor) {
  torch::Tensor input = tensor.contiguous();
  check_cuda_tensor(input, device_index_, "all_gather");
  std::vector<int64_t> shape{world_size_};
  shape.insert(shape.end(), input.sizes().begin(), input.sizes().end());
  torch::Tensor output = torch::empty(shape, input.options());  // (world_size, *tensor.shape)
  cudaStream_t caller = begin_collective("all_gather");
  DELTARL_NCCL_CHECK(ncclAllGather(input.data_ptr(), output.data_ptr(),
                                   static_cast<size_t>(input.numel()),
                                   nccl_datatype(input.scalar_type()), comm_, stream_),
                     comm_);
  end_collective(caller, "all_gather");
  return output;
}

void NcclCommunicator::reduce_scatter_sum(const torch::Tensor& input, torch::Tensor& output) {
  check_shard_shapes(input, output, "NcclCommunicator::reduce_scatter_sum");
  check_cuda_tensor(input, device_index_, "reduce_scatter_sum");
  cudaStream_t caller = begin_collective("reduce_scatter_sum");
  DELTARL_NCCL_CHECK(ncclReduceScatter(input.data_ptr(), output.data_ptr(), static_cast<size_t>(output.numel()),
                                       nccl_datatype(input.scalar_type()), ncclSum, comm_, stream_),
                     comm_);
  end_collective(caller, "reduce_scatter_sum");
}

void NcclCommunicator::all_gather_into(const torch::Tensor& input, torch::Tensor& output) {
  check_shard_shapes(output, input, "NcclCommunicator::all_gather_into");
  check_cuda_tensor(input, device_index_, "all_gather_into");
  cudaStream_t caller = begin_collective("all_gather_into");
  DELTARL_NCCL_CHECK(ncclAllGather(input.data_ptr(), output.data_ptr(), static_cast<size_t>(input.numel()),
                                   nccl_datatype(input.scalar_type()), comm_, stream_),
                     comm_);
  end_collective(caller, "all_gather_into");
}

void NcclCommunicator::barrier() {
  torch::Tensor token = torch::zeros({1}, torch::TensorOptions().dtype(torch::kFloat32).device(device()));
  all_reduce_sum(token);
  // Poll instead of cudaStreamSynchronize: a peer that died leaves the
  // all-reduce waiting forever, and NCCL says so only through its error state.
  while (true) {
    const cudaError_t done = cudaEventQuery(collective_done_);
    if (done == cudaSuccess) break;
    if (done != cudaErrorNotReady) DELTARL_CUDA_CHECK(done);
    if (const ncclResult_t state = async_error_state(); state != ncclSuccess) abort_on_async_error(state, "barrier");
    std::this_thread::sleep_for(kPollInterval);
  }
  DELTARL_CUDA_CHECK(cudaStreamSynchronize(caller_stream(device_index_)));
}

}  // namespace deltarl

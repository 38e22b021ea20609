#include "trainer/comm/nccl_communicator.h"

#include <c10/util/Exception.h>

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
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    ncclCommDestroy(comm_);
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
    stream_ = std::exchange(other.stream_, nullptr);
    inputs_ready_ = std::exchange(other.inputs_ready_, nullptr);
    collective_done_ = std::exchange(other.collective_done_, nullptr);
    device_index_ = other.device_index_;
    rank_ = other.rank_;
    world_size_ = other.world_size_;
  }
  return *this;
}

cudaStream_t NcclCommunicator::begin_collective() {
  DELTARL_CUDA_CHECK(cudaSetDevice(device_index_));
  cudaStream_t caller = caller_stream(device_index_);
  DELTARL_CUDA_CHECK(cudaEventRecord(inputs_ready_, caller));
  DELTARL_CUDA_CHECK(cudaStreamWaitEvent(stream_, inputs_ready_, 0));
  return caller;
}

void NcclCommunicator::end_collective(cudaStream_t caller) {
  DELTARL_CUDA_CHECK(cudaEventRecord(collective_done_, stream_));
  DELTARL_CUDA_CHECK(cudaStreamWaitEvent(caller, collective_done_, 0));
}

static void check_cuda_tensor(const torch::Tensor& tensor, int device_index, const char* operation) {
  TORCH_CHECK(tensor.is_cuda() && tensor.get_device() == device_index, "NcclCommunicator::",
              operation, ": tensor must be on cuda:", device_index, ", got ", tensor.device());
  TORCH_CHECK(tensor.is_contiguous(), "NcclCommunicator::", operation, ": tensor must be contiguous");
}

void NcclCommunicator::all_reduce_sum(torch::Tensor& tensor) {
  check_cuda_tensor(tensor, device_index_, "all_reduce_sum");
  cudaStream_t caller = begin_collective();
  DELTARL_NCCL_CHECK(ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(),
                                   static_cast<size_t>(tensor.numel()),
                                   nccl_datatype(tensor.scalar_type()), ncclSum, comm_, stream_),
                     comm_);
  end_collective(caller);
}

void NcclCommunicator::broadcast(torch::Tensor& tensor, int root) {
  check_cuda_tensor(tensor, device_index_, "broadcast");
  TORCH_CHECK(root >= 0 && root < world_size_, "NcclCommunicator::broadcast: root ", root,
              " outside world of size ", world_size_);
  cudaStream_t caller = begin_collective();
  DELTARL_NCCL_CHECK(ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(),
                                   static_cast<size_t>(tensor.numel()),
                                   nccl_datatype(tensor.scalar_type()), root, comm_, stream_),
                     comm_);
  end_collective(caller);
}

torch::Tensor NcclCommunicator::all_gather(const torch::Tensor& tensor) {
  torch::Tensor input = tensor.contiguous();
  check_cuda_tensor(input, device_index_, "all_gather");
  std::vector<int64_t> shape{world_size_};
  shape.insert(shape.end(), input.sizes().begin(), input.sizes().end());
  torch::Tensor output = torch::empty(shape, input.options());  // (world_size, *tensor.shape)
  cudaStream_t caller = begin_collective();
  DELTARL_NCCL_CHECK(ncclAllGather(input.data_ptr(), output.data_ptr(),
                                   static_cast<size_t>(input.numel()),
                                   nccl_datatype(input.scalar_type()), comm_, stream_),
                     comm_);
  end_collective(caller);
  return output;
}

void NcclCommunicator::barrier() {
  torch::Tensor token = torch::zeros({1}, torch::TensorOptions().dtype(torch::kFloat32).device(device()));
  all_reduce_sum(token);
  DELTARL_CUDA_CHECK(cudaStreamSynchronize(caller_stream(device_index_)));
}

}  // namespace deltarl

#include "trainer/comm/mpi_communicator.h"

#include <c10/util/Exception.h>

#include <utility>

#include "trainer/comm/internal/mpi_check.h"

namespace deltarl {

namespace {

MPI_Datatype mpi_datatype(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32: return MPI_FLOAT;
    case torch::kFloat64: return MPI_DOUBLE;
    case torch::kInt32: return MPI_INT32_T;
    case torch::kInt64: return MPI_INT64_T;
    case torch::kInt8: return MPI_INT8_T;
    case torch::kUInt8: return MPI_UINT8_T;
    default: TORCH_CHECK(false, "MpiCommunicator: unsupported dtype ", type);
  }
}

bool needs_fp32_staging(torch::ScalarType type) {
  return type == torch::kBFloat16 || type == torch::kFloat16;
}

void check_tensor(const torch::Tensor& tensor, const char* operation) {
  TORCH_CHECK(tensor.device().is_cpu(), "MpiCommunicator::", operation,
              ": tensor must be on the CPU, got ", tensor.device(),
              " (use NcclCommunicator for CUDA tensors)");
  TORCH_CHECK(tensor.is_contiguous(), "MpiCommunicator::", operation,
              ": tensor must be contiguous");
  TORCH_CHECK(tensor.numel() <= INT32_MAX, "MpiCommunicator::", operation,
              ": tensor has ", tensor.numel(), " elements; MPI counts are int32");
}

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm base) {
  DELTARL_MPI_CHECK(MPI_Comm_dup(base, &comm_));
  // Errors come back as codes so DELTARL_MPI_CHECK can report them with context.
  DELTARL_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  DELTARL_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  DELTARL_MPI_CHECK(MPI_Comm_size(comm_, &world_size_));
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (comm_ != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm_);
}

MpiCommunicator::MpiCommunicator(MpiCommunicator&& other) noexcept
    : comm_(std::exchange(other.comm_, MPI_COMM_NULL)),
      rank_(other.rank_),
      world_size_(other.world_size_) {}

MpiCommunicator& MpiCommunicator::operator=(MpiCommunicator&& other) noexcept {
  if (this != &other) {
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
    rank_ = other.rank_;
    world_size_ = other.world_size_;
  }
  return *this;
}

void MpiCommunicator::all_reduce_sum(torch::Tensor& tensor) {
  check_tensor(tensor, "all_reduce_sum");
  if (needs_fp32_staging(tensor.scalar_type())) {
    torch::Tensor staged = tensor.to(torch::kFloat32);
    all_reduce_sum(staged);
    tensor.copy_(staged);
    return;
  }
  DELTARL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, tensor.data_ptr(), static_cast<int>(tensor.numel()),
                                  mpi_datatype(tensor.scalar_type()), MPI_SUM, comm_));
}

void MpiCommunicator::broadcast(torch::Tensor& tensor, int root) {
  check_tensor(tensor, "broadcast");
  TORCH_CHECK(root >= 0 && root < world_size_, "MpiCommunicator::broadcast: root ", root,
              " outside world of size ", world_size_);
  // Broadcast moves bytes, so any dtype goes as MPI_BYTE.
  const int64_t bytes = tensor.numel() * static_cast<int64_t>(tensor.element_size());
  TORCH_CHECK(bytes <= INT32_MAX, "MpiCommunicator::broadcast: tensor too large (", bytes, " bytes)");
  DELTARL_MPI_CHECK(MPI_Bcast(tensor.data_ptr(), static_cast<int>(bytes), MPI_BYTE, root, comm_));
}

torch::Tensor MpiCommunicator::all_gather(const torch::Tensor& tensor) {
  torch::Tensor input = tensor.contiguous();
  check_tensor(input, "all_gather");
  std::vector<int64_t> shape{world_size_};
  shape.insert(shape.end(), input.sizes().begin(), input.sizes().end());
  torch::Tensor output = torch::empty(shape, input.options());  // (world_size, *tensor.shape)
  const int64_t bytes = input.numel() * static_cast<int64_t>(input.element_size());
  TORCH_CHECK(bytes * world_size_ <= INT32_MAX, "MpiCommunicator::all_gather: tensor too large");
  DELTARL_MPI_CHECK(MPI_Allgather(input.data_ptr(), static_cast<int>(bytes), MPI_BYTE,
                                  output.data_ptr(), static_cast<int>(bytes), MPI_BYTE, comm_));
  return output;
}

void MpiCommunicator::reduce_scatter_sum(const torch::Tensor& input, torch::Tensor& output) {
  check_shard_shapes(input, output, "MpiCommunicator::reduce_scatter_sum");
  check_tensor(input, "reduce_scatter_sum");
  if (needs_fp32_staging(input.scalar_type())) {
    torch::Tensor staged = torch::empty({output.numel()}, output.options().dtype(torch::kFloat32));
    reduce_scatter_sum(input.to(torch::kFloat32), staged);
    output.copy_(staged);
    return;
  }
  DELTARL_MPI_CHECK(MPI_Reduce_scatter_block(input.data_ptr(), output.data_ptr(), static_cast<int>(output.numel()),
                                             mpi_datatype(input.scalar_type()), MPI_SUM, comm_));
}

void MpiCommunicator::all_gather_into(const torch::Tensor& input, torch::Tensor& output) {
  check_shard_shapes(output, input, "MpiCommunicator::all_gather_into");
  const int64_t bytes = input.numel() * static_cast<int64_t>(input.element_size());
  TORCH_CHECK(bytes <= INT32_MAX, "MpiCommunicator::all_gather_into: shard too large (", bytes,
              " bytes; MPI counts are int32)");
  DELTARL_MPI_CHECK(MPI_Allgather(input.data_ptr(), static_cast<int>(bytes), MPI_BYTE, output.data_ptr(),
                                  static_cast<int>(bytes), MPI_BYTE, comm_));
}

void MpiCommunicator::barrier() { DELTARL_MPI_CHECK(MPI_Barrier(comm_)); }

}  // namespace deltarl

#include "trainer/comm/mpi_communicator.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <utility>
#include <vector>

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

bool sums_in_rank_order(torch::ScalarType type) {
  return type == torch::kFloat32 || type == torch::kFloat64;
}

void check_placement(const torch::Tensor& tensor, const char* operation) {
  TORCH_CHECK(tensor.device().is_cpu(), "MpiCommunicator::", operation,
              ": tensor must be on the CPU, got ", tensor.device(),
              " (use NcclCommunicator for CUDA tensors)");
  TORCH_CHECK(tensor.is_contiguous(), "MpiCommunicator::", operation,
              ": tensor must be contiguous");
}

void check_tensor(const torch::Tensor& tensor, const char* operation) {
  check_placement(tensor, operation);
  TORCH_CHECK(tensor.numel() <= INT32_MAX, "MpiCommunicator::", operation,
              ": tensor has ", tensor.numel(), " elements; MPI counts are int32");
}

// Each rank's range of a flat tensor of `numel` elements when it is cut into
// world_size contiguous ranges, ⌈numel / world_size⌉ long but the last ones.
std::vector<MpiCommunicator::Range> even_ranges(int64_t numel, int world_size) {
  const int64_t share = (numel + world_size - 1) / world_size;
  std::vector<MpiCommunicator::Range> ranges;
  for (int r = 0; r < world_size; ++r) {
    const int64_t begin = std::min(numel, share * r);
    ranges.push_back({begin, std::min(share, numel - begin)});
  }
  return ranges;
}

// Elements per peer and message in sum_in_rank_order: 4 MiB of fp32, so the
// receive buffer is world_size × 4 MiB however large the tensor.
constexpr int64_t kRankOrderBlockElements = int64_t{1} << 20;
constexpr int kRankOrderTag = 7301;

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
  if (!sums_in_rank_order(tensor.scalar_type()) || world_size_ == 1) {
    DELTARL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, tensor.data_ptr(), static_cast<int>(tensor.numel()),
                                    mpi_datatype(tensor.scalar_type()), MPI_SUM, comm_));
    return;
  }
  // A reduce-scatter in rank order, then every rank's sums gathered in place.
  torch::Tensor flat = tensor.view({-1});
  const std::vector<Range> ranges = even_ranges(flat.numel(), world_size_);
  torch::Tensor own = flat.narrow(/*dim=*/0, ranges[rank_].begin, ranges[rank_].length);
  sum_in_rank_order(flat, ranges, own);
  std::vector<int> counts, displacements;
  for (const Range& range : ranges) {
    counts.push_back(static_cast<int>(range.length));
    displacements.push_back(static_cast<int>(range.begin));
  }
  DELTARL_MPI_CHECK(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, flat.data_ptr(), counts.data(),
                                   displacements.data(), mpi_datatype(flat.scalar_type()), comm_));
}

void MpiCommunicator::sum_in_rank_order(const torch::Tensor& input, const std::vector<Range>& ranges,
                                        torch::Tensor& own) {
  const MPI_Datatype type = mpi_datatype(input.scalar_type());
  const int64_t element_bytes = static_cast<int64_t>(input.element_size());
  const char* input_bytes = static_cast<const char*>(input.data_ptr());
  const Range mine = ranges[rank_];
  int64_t longest = 0;
  for (const Range& range : ranges) longest = std::max(longest, range.length);
  const int64_t block = std::min(kRankOrderBlockElements, std::max<int64_t>(mine.length, 1));
  torch::Tensor parts = torch::empty({world_size_, block}, input.options());  // (world_size, block): rank r's row r
  // Every rank runs the same number of blocks (`longest` is global), sending
  // its peers their part of each block and receiving its own.
  for (int64_t offset = 0; offset < longest; offset += kRankOrderBlockElements) {
    const int64_t receiving = std::clamp<int64_t>(mine.length - offset, 0, kRankOrderBlockElements);
    std::vector<MPI_Request> requests;
    for (int peer = 0; peer < world_size_; ++peer) {
      if (peer == rank_) continue;
      const int64_t sending = std::clamp<int64_t>(ranges[peer].length - offset, 0, kRankOrderBlockElements);
      if (sending > 0) {
        requests.emplace_back();
        DELTARL_MPI_CHECK(MPI_Isend(input_bytes + (ranges[peer].begin + offset) * element_bytes,
                                    static_cast<int>(sending), type, peer, kRankOrderTag, comm_, &requests.back()));
      }
      if (receiving > 0) {
        requests.emplace_back();
        DELTARL_MPI_CHECK(MPI_Irecv(parts[peer].data_ptr(), static_cast<int>(receiving), type, peer, kRankOrderTag,
                                    comm_, &requests.back()));
      }
    }
    if (receiving > 0) {
      parts[rank_].narrow(/*dim=*/0, 0, receiving).copy_(input.narrow(/*dim=*/0, mine.begin + offset, receiving));
    }
    DELTARL_MPI_CHECK(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE));
    if (receiving == 0) continue;
    torch::Tensor sums = own.narrow(/*dim=*/0, offset, receiving);
    sums.copy_(parts[0].narrow(/*dim=*/0, 0, receiving));
    for (int r = 1; r < world_size_; ++r) sums.add_(parts[r].narrow(/*dim=*/0, 0, receiving));
  }
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
  check_placement(input, "reduce_scatter_sum");
  if (needs_fp32_staging(input.scalar_type())) {
    torch::Tensor staged = torch::empty({output.numel()}, output.options().dtype(torch::kFloat32));
    reduce_scatter_sum(input.to(torch::kFloat32), staged);
    output.copy_(staged);
    return;
  }
  if (sums_in_rank_order(input.scalar_type())) {
    std::vector<Range> ranges;
    for (int r = 0; r < world_size_; ++r) ranges.push_back({r * output.numel(), output.numel()});
    sum_in_rank_order(input, ranges, output);
    return;
  }
  check_tensor(input, "reduce_scatter_sum");
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

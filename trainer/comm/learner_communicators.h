// LearnerCommunicators: the communicators a learner rank trains with, made
// once by the process that runs training (the `deltarl train` command: MPI's
// world and, on GPUs, NCCL; a test: SingleProcessCommunicator) and passed in.
//
//   host:   CPU tensors: the samples, agreement on failures, metrics, paths.
//   device: tensors on the model's device: the statistics all-reduce and the
//           gradients. On CPU it is the host communicator itself.
#pragma once

#include "trainer/comm/communicator.h"

namespace deltarl {

struct LearnerCommunicators {
  Communicator& host;
  Communicator& device;
  int local_size = 1;  // ranks on this host: they share its cores
};

}  // namespace deltarl

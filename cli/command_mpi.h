// MPI for the subcommands that run as learner ranks (train, preflight): started
// once per process, or a Status that says why it could not start.
#pragma once

#include <memory>

#include "core/status.h"
#include "trainer/comm/mpi_environment.h"

namespace deltarl {

// nullptr with *status set (kFailedPrecondition) when MPI cannot start.
std::unique_ptr<MpiEnvironment> start_command_mpi(Status* status);

}  // namespace deltarl

#include "cli/command_mpi.h"

#include <exception>
#include <string>

namespace deltarl {

std::unique_ptr<MpiEnvironment> start_command_mpi(Status* status) {
  int argc = 0;
  char** argv = nullptr;
  try {
    return std::make_unique<MpiEnvironment>(&argc, &argv);
  } catch (const std::exception& error) {
    *status = Status(StatusCode::kFailedPrecondition, std::string("cannot start MPI: ") + error.what() +
                                                          " (is this the MPI deltarl was built against?)");
    return nullptr;
  }
}

}  // namespace deltarl

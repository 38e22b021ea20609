// DELTARL_MPI_CHECK(call): runs an MPI call and, when it fails, throws
// std::runtime_error with the file, line, rank and MPI's own error string.
#pragma once

#include <mpi.h>

#include <stdexcept>
#include <string>

namespace deltarl::internal {

[[noreturn]] inline void throw_mpi_error(int code, const char* call, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int length = 0;
  MPI_Error_string(code, text, &length);
  int rank = -1, initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": rank " +
                           std::to_string(rank) + ": " + call + " failed: " + text +
                           ". This may indicate a crashed peer rank or a network set-up issue.");
}

}  // namespace deltarl::internal

#define DELTARL_MPI_CHECK(call)                                                  \
  do {                                                                           \
    const int deltarl_mpi_code = (call);                                         \
    if (deltarl_mpi_code != MPI_SUCCESS)                                         \
      ::deltarl::internal::throw_mpi_error(deltarl_mpi_code, #call, __FILE__, __LINE__); \
  } while (0)

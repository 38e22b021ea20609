// BuildIdentity: which deltarl build this process runs, for telling hosts of one
// job apart when they were installed separately (preflight, worker status).
//
//   const BuildIdentity& build = this_build();
//   build.description();   // "deltarl 0.1.0, LibTorch 1.13.1, executable 3f2a91c0"
//
// The executable fingerprint is the CRC-32C of /proc/self/exe: two hosts agree
// on it exactly when they run byte-identical binaries, whatever the version says.
#pragma once

#include <string>

namespace deltarl {

struct BuildIdentity {
  std::string deltarl_version;         // the project version from CMake
  std::string libtorch_version;        // the LibTorch this was compiled against
  std::string executable_fingerprint;  // 8 hex digits; "unknown" when /proc/self/exe is unreadable

  std::string description() const;
};

// Computed once per process (reads the executable on first use).
const BuildIdentity& this_build();

}  // namespace deltarl

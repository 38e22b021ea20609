// StopSignal: turns SIGTERM, SIGINT and SIGUSR1 (Slurm's preemption warning,
// `sbatch --signal=USR1@90`) into a flag the training loop checks between
// steps: the run finishes the step in progress, writes a checkpoint and stops.
// Installing twice is harmless; the handler only stores to an atomic flag.
#pragma once

namespace deltarl {

class StopSignal {
 public:
  static void install();
  static bool requested();
  static int signal_number();  // the last one received, 0 if none
  static void reset();         // for tests
};

}  // namespace deltarl

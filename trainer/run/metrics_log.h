// MetricsLog: the run's metrics.jsonl, one JSON object per step ({"step": k,
// "reward/mean": ..., ...}). Each line is appended and flushed to disk as the
// step ends, so a crash loses at most the step in progress. Opened for a
// resumed run at step k, it first drops the lines of steps after k (written by
// the stopped run past its checkpoint), rewriting the file atomically, so every
// step appears once.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace deltarl {

class MetricsLog {
 public:
  // Throws std::runtime_error naming the file when it cannot be opened, and
  // InputError when an existing line is not JSON (the file is then left alone).
  MetricsLog(const std::string& path, int64_t resume_step);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // Appends {"step": step, name: value, ...} in the given order and fsyncs.
  void append(int64_t step, const std::vector<std::pair<std::string, double>>& metrics);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace deltarl

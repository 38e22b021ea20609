#include "trainer/run/metrics_log.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "core/atomic_file_writer.h"
#include "core/file_system.h"
#include "core/jsonl_reader.h"

namespace deltarl {

MetricsLog::MetricsLog(const std::string& path, int64_t resume_step) : path_(path) {
  if (path_exists(path)) {
    std::string text;
    {
      std::ifstream file(path, std::ios::binary);
      std::stringstream buffer;
      buffer << file.rdbuf();
      text = buffer.str();
    }
    // Every append ends in a newline: text after the last one is a line a crash
    // interrupted, never a whole step. Drop it rather than refuse to resume.
    bool dropped = false;
    if (!text.empty() && text.back() != '\n') {
      text.erase(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
      dropped = true;
    }
    std::istringstream input(text);
    JsonlReader reader(input, path);
    std::vector<std::string> kept;
    while (auto line = reader.next()) {
      const auto& value = line->value;
      if (value.contains("step") && value["step"].is_number_integer() && value["step"].get<int64_t>() > resume_step) {
        dropped = true;
        continue;
      }
      kept.push_back(value.dump());
    }
    if (dropped) {
      AtomicFileWriter rewrite(path);
      for (const auto& line : kept) rewrite.stream() << line << "\n";
      rewrite.commit();
    }
  }
  file_ = std::fopen(path.c_str(), "ab");
  if (file_ == nullptr) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (file_ != nullptr) std::fclose(file_);
}

void MetricsLog::append(int64_t step, const std::vector<std::pair<std::string, double>>& metrics) {
  Json line;
  line["step"] = step;
  for (const auto& [name, value] : metrics) {
    if (std::isfinite(value)) {
      line[name] = value;
    } else {
      line[name] = nullptr;  // JSON has no NaN; null keeps the line parseable
    }
  }
  const std::string text = line.dump() + "\n";
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0) {
    throw std::runtime_error("cannot append to " + path_ + ": " + std::strerror(errno));
  }
  ::fsync(::fileno(file_));
}

}  // namespace deltarl

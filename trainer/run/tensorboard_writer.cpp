#include "trainer/run/tensorboard_writer.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "core/crc32c.h"
#include "core/file_system.h"
#include "deltarl/tensorboard/event.pb.h"

namespace deltarl {

namespace {

double wall_time_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

TensorBoardWriter::TensorBoardWriter(const std::string& folder, int64_t start_step) {
  make_directories(folder);
  char host[256] = "localhost";
  ::gethostname(host, sizeof(host) - 1);
  const auto seconds = static_cast<int64_t>(wall_time_now());
  path_ = join_path(folder, "events.out.tfevents." + std::to_string(seconds) + "." + host + "." +
                                std::to_string(::getpid()) + ".deltarl");
  file_ = std::fopen(path_.c_str(), "wb");
  if (file_ == nullptr) throw std::runtime_error("cannot create " + path_ + ": " + std::strerror(errno));
  tensorboard::Event version;
  version.set_wall_time(wall_time_now());
  version.set_file_version("brain.Event:2");
  write_record(version.SerializeAsString());
  if (start_step > 0) {
    tensorboard::Event start;
    start.set_wall_time(wall_time_now());
    start.set_step(start_step);
    start.mutable_session_log()->set_status(tensorboard::SessionLog::START);
    write_record(start.SerializeAsString());
  }
  flush();
}

TensorBoardWriter::~TensorBoardWriter() {
  if (file_ != nullptr) {
    std::fflush(file_);
    std::fclose(file_);
  }
}

void TensorBoardWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  tensorboard::Event event;
  event.set_wall_time(wall_time_now());
  event.set_step(step);
  auto* summary_value = event.mutable_summary()->add_value();
  summary_value->set_tag(tag);
  summary_value->set_simple_value(static_cast<float>(value));
  write_record(event.SerializeAsString());
}

void TensorBoardWriter::write_record(const std::string& serialized_event) {
  const uint64_t length = serialized_event.size();
  const uint32_t length_crc = masked_crc32c(&length, sizeof(length));  // little-endian hosts only (x86, arm64)
  const uint32_t data_crc = masked_crc32c(serialized_event.data(), serialized_event.size());
  bool ok = std::fwrite(&length, sizeof(length), 1, file_) == 1 &&
            std::fwrite(&length_crc, sizeof(length_crc), 1, file_) == 1 &&
            std::fwrite(serialized_event.data(), 1, serialized_event.size(), file_) == serialized_event.size() &&
            std::fwrite(&data_crc, sizeof(data_crc), 1, file_) == 1;
  if (!ok) throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(errno));
}

void TensorBoardWriter::flush() {
  if (std::fflush(file_) != 0) throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(errno));
  ::fsync(::fileno(file_));
}

}  // namespace deltarl

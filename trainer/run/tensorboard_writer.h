// TensorBoardWriter: scalar summaries in TensorBoard's event-file format,
// written from C++ (no TensorFlow, no Python). One file per writer,
// "events.out.tfevents.<seconds>.<host>.<pid>.deltarl" in `folder`.
//
//   TensorBoardWriter board("runs/x/tensorboard", /*start_step=*/0);
//   board.add_scalar("reward/mean", 0.42, step);
//   board.flush();                        // after each step
//
// A writer opened with start_step > 0 (a resumed run) first writes a
// SessionLog START at that step, which tells TensorBoard to drop the older
// files' events from that step on: the steps run again after the checkpoint
// replace those the stopped run wrote past it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace deltarl {

class TensorBoardWriter {
 public:
  // Creates `folder` if needed. Throws std::runtime_error naming the file.
  TensorBoardWriter(const std::string& folder, int64_t start_step = 0);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  void add_scalar(const std::string& tag, double value, int64_t step);
  // Pushes buffered records to the file and to disk.
  void flush();
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& serialized_event);

  std::string path_;
  std::FILE* file_ = nullptr;
};

// TensorBoard's record checksum: CRC-32C rotated and offset ("masked").
uint32_t masked_crc32c(const void* data, size_t size);

}  // namespace deltarl

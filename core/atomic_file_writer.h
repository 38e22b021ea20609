// AtomicFileWriter: writes a file so that readers see either the old content or
// the complete new content, never a partial file. Data goes to a temporary file
// beside the target; commit() flushes, fsyncs and renames it over the target.
// If commit() is never reached (an error, an exception), the destructor removes
// the temporary file and the target is untouched.
//
//   AtomicFileWriter out("metrics.json");
//   out.stream() << text;
//   out.commit();            // throws std::runtime_error naming the file on failure
#pragma once

#include <fstream>
#include <string>

namespace deltarl {

class AtomicFileWriter {
 public:
  // Opens the temporary file; throws std::runtime_error naming `path` when the
  // folder does not exist or is not writable.
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  std::ostream& stream() { return stream_; }
  void commit();

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string temporary_path_;
  std::ofstream stream_;
  bool committed_ = false;
};

}  // namespace deltarl

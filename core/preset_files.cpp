#include "core/preset_files.h"

#include <cstdlib>

#include "core/file_system.h"
#include "core/input_error.h"

namespace deltarl {

std::string preset_file(const std::string& name) {
  const char* override_folder = std::getenv("DELTARL_PRESETS_DIR");
  const std::string folder = override_folder != nullptr ? override_folder : DELTARL_SOURCE_PRESETS_DIR;
  const std::string path = join_path(folder, name);
  if (!path_exists(path)) {
    throw InputError("preset file \"" + path + "\" is missing (set DELTARL_PRESETS_DIR to deltarl's core/presets folder)");
  }
  return path;
}

}  // namespace deltarl

#include "core/preset_files.h"

#include <cstdlib>
#include <filesystem>

#include "core/input_error.h"

namespace deltarl {

std::string preset_file(const std::string& name) {
  const char* override_folder = std::getenv("DELTARL_PRESETS_DIR");
  const std::string folder = override_folder != nullptr ? override_folder : DELTARL_SOURCE_PRESETS_DIR;
  const std::filesystem::path path = std::filesystem::path(folder) / name;
  if (!std::filesystem::exists(path)) {
    throw InputError("preset file \"" + path.string() + "\" is missing (set DELTARL_PRESETS_DIR to deltarl's core/presets folder)");
  }
  return path.string();
}

}  // namespace deltarl

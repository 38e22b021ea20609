#include "core/exception_status.h"

#include <exception>
#include <new>

#include <c10/util/Exception.h>

#include "core/input_error.h"

namespace deltarl {

Status current_exception_status(const std::string& context) {
  const std::string prefix = context.empty() ? std::string() : context + ": ";
  try {
    throw;
  } catch (const InputError& error) {
    return Status(StatusCode::kInvalidArgument, prefix + error.what());
  } catch (const c10::Error& error) {
    return Status(StatusCode::kInternal, prefix + "LibTorch error: " + error.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kInternal, prefix + "out of memory (std::bad_alloc)");
  } catch (const std::exception& error) {
    return Status(StatusCode::kInternal, prefix + error.what());
  } catch (...) {
    return Status(StatusCode::kInternal, prefix + "an exception that is not a std::exception");
  }
}

}  // namespace deltarl

#include "l2sweep/base/exit_codes.h"

namespace l2sweep {

int exit_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUsage:
      return kExitUsage;
    case ErrorKind::kData:
      return kExitData;
    case ErrorKind::kOutput:
      return kExitOutput;
    case ErrorKind::kInternal:
      break;
  }
  return kExitInternal;
}

}  // namespace l2sweep

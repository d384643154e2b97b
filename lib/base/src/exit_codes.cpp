#include "l2sweep/base/exit_codes.h"

#include <fmt/format.h>

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

std::string exit_codes_help() {
  std::string text = "Exit codes:\n";
  for (const ExitCodeDoc& doc : kExitCodes)
    text += fmt::format("{:>3}  {}\n", doc.code, doc.meaning);
  return text;
}

}  // namespace l2sweep

// An LD_PRELOAD library for the fault-injection suite: fsync() and fclose() of any file whose
// path contains $L2SWEEP_FAIL_CLOSE report EIO (the file is still closed), as a network
// filesystem reports write-back and quota errors at close. strace can inject such an error
// only into files it can name in advance, and TensorBoard event files have names of their own.
#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

bool fails(int fd) {
  const char* pattern = std::getenv("L2SWEEP_FAIL_CLOSE");
  if (pattern == nullptr || *pattern == '\0' || fd < 0) return false;
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char target[4096];
  const ssize_t length = ::readlink(link, target, sizeof target - 1);
  if (length <= 0) return false;
  target[length] = '\0';
  return std::strstr(target, pattern) != nullptr;
}

}  // namespace

extern "C" int fsync(int fd) {
  using Fsync = int (*)(int);
  static const auto real = reinterpret_cast<Fsync>(::dlsym(RTLD_NEXT, "fsync"));
  const int result = real(fd);
  if (result == 0 && fails(fd)) {
    errno = EIO;
    return -1;
  }
  return result;
}

extern "C" int fclose(std::FILE* file) {
  using Fclose = int (*)(std::FILE*);
  static const auto real = reinterpret_cast<Fclose>(::dlsym(RTLD_NEXT, "fclose"));
  const bool failing = file != nullptr && fails(::fileno(file));
  const int result = real(file);
  if (result == 0 && failing) {
    errno = EIO;
    return EOF;
  }
  return result;
}

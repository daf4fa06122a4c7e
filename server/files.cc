#include "server/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace strongroom::server {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  int err = errno;
  std::string msg = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == EEXIST) return absl::AlreadyExistsError(msg);
  if (err == EACCES || err == EPERM || err == EROFS) return absl::PermissionDeniedError(msg);
  return absl::UnavailableError(msg);
}

absl::Status WriteAll(int fd, absl::string_view content, const std::string& path) {
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("cannot write", path);
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return ErrnoError("cannot sync", path);
  return absl::OkStatus();
}

}  // namespace

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

absl::Status MakeDirs(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string dir = path.substr(0, pos);
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoError("cannot create folder", dir);
    }
  }
  return absl::OkStatus();
}

absl::Status WriteNewFile(const std::string& path, absl::string_view content, int mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return ErrnoError("cannot create", path);
  absl::Status s = WriteAll(fd, content, path);
  close(fd);
  if (!s.ok()) unlink(path.c_str());
  return s;
}

absl::Status ReplaceFile(const std::string& path, absl::string_view content, int mode) {
  std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  unlink(tmp.c_str());
  if (absl::Status s = WriteNewFile(tmp, content, mode); !s.ok()) return s;
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status s = ErrnoError("cannot replace", path);
    unlink(tmp.c_str());
    return s;
  }
  return absl::OkStatus();
}

}  // namespace strongroom::server

#include "hsm/pin_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace strongroom::hsm {
namespace {

constexpr size_t kMaxPinBytes = 256;

absl::Status ErrnoStatus(absl::string_view what, const std::string& path) {
  int err = errno;
  std::string msg = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM || err == ELOOP) return absl::PermissionDeniedError(msg);
  return absl::UnavailableError(msg);
}

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

absl::StatusOr<SecretData> ReadPinFile(const std::string& path) {
  Fd f{open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
  if (f.fd < 0) {
    if (errno == ELOOP) {
      return absl::PermissionDeniedError(
          absl::StrCat("PIN file ", path, " is a symlink; point pin_file at the file itself"));
    }
    return ErrnoStatus("cannot open PIN file", path);
  }
  struct stat st;
  if (fstat(f.fd, &st) != 0) return ErrnoStatus("cannot stat PIN file", path);
  if (!S_ISREG(st.st_mode)) {
    return absl::PermissionDeniedError(absl::StrCat("PIN file ", path, " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "PIN file %s is accessible to group or others (mode %04o); run: chmod 600 %s", path,
        st.st_mode & 07777, path));
  }
  if (st.st_uid != geteuid()) {
    return absl::PermissionDeniedError(absl::StrCat("PIN file ", path, " is owned by uid ",
                                                    st.st_uid, ", not by this process's uid ",
                                                    geteuid()));
  }
  SecretData pin(kMaxPinBytes + 1);
  size_t got = 0;
  while (got < pin.size()) {
    ssize_t n = read(f.fd, pin.MutableSecret().data() + got, pin.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("cannot read PIN file", path);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > kMaxPinBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("PIN file ", path, " is longer than ", kMaxPinBytes, " bytes"));
  }
  auto bytes = pin.RevealSecret();
  if (got > 0 && bytes[got - 1] == '\n') --got;
  if (got > 0 && bytes[got - 1] == '\r') --got;
  if (got == 0) return absl::InvalidArgumentError(absl::StrCat("PIN file ", path, " is empty"));
  pin.Truncate(got);
  return pin;
}

absl::Status WritePinFile(const std::string& path, const SecretData& pin) {
  Fd f{open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
  if (f.fd < 0) return ErrnoStatus("cannot create PIN file", path);
  auto bytes = pin.RevealSecret();
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = write(f.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("cannot write PIN file", path);
    done += static_cast<size_t>(n);
  }
  if (fsync(f.fd) != 0) return ErrnoStatus("cannot sync PIN file", path);
  return absl::OkStatus();
}

}  // namespace strongroom::hsm

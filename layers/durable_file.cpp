#include "layers/durable_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace bc {
namespace {

Status io_failure(const std::string& what, const std::filesystem::path& path, int err) {
  return fail(make_error_code(Errc::kIo), what + " " + path.string() + ": " + std::strerror(err));
}

bool write_all(int fd, ByteView bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

Status sync_dir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_failure("cannot open directory", dir, errno);
  const bool ok = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  return ok ? Status{} : io_failure("cannot sync directory", dir, err);
}

std::filesystem::path dir_of(const std::filesystem::path& file) {
  return file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
}

}  // namespace

Status write_file_durably(const std::filesystem::path& file, ByteView bytes) {
  const std::filesystem::path tmp = file.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_failure("cannot create", tmp, errno);
  const bool ok = write_all(fd, bytes) && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return io_failure("cannot write", tmp, err);
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    const int rename_err = errno;
    ::unlink(tmp.c_str());
    return io_failure("cannot rename over", file, rename_err);
  }
  return sync_dir(dir_of(file));
}

Status remove_file_durably(const std::filesystem::path& file) {
  if (::unlink(file.c_str()) != 0 && errno != ENOENT) return io_failure("cannot remove", file, errno);
  return sync_dir(dir_of(file));
}

}  // namespace bc

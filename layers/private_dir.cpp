#include "layers/private_dir.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace bc {

namespace {

Status cannot_create(const std::filesystem::path& dir, int err) {
  return fail(Errc::kIo, "cannot create directory " + dir.string() + ": " + std::strerror(err) +
                             " (check the permissions of its parent directory)");
}

}  // namespace

Status create_private_dirs(const std::filesystem::path& dir) {
  if (dir.empty()) return {};
  struct stat st{};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return {};
    return fail(Errc::kIo, dir.string() + " exists and is not a directory; choose another path");
  }
  if (auto parent = create_private_dirs(dir.parent_path()); !parent.ok()) return parent;
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno == EEXIST) return {};  // created concurrently by someone else: leave it as it is
    return cannot_create(dir, errno);
  }
  // mkdir's mode is masked by the umask; set it exactly.
  if (::chmod(dir.c_str(), 0700) != 0) return cannot_create(dir, errno);
  return {};
}

}  // namespace bc

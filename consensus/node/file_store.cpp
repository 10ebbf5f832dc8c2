#include "consensus/node/file_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace bc::consensus {
namespace {
Status io_error(const char* what, const std::filesystem::path& p, int err) {
  return fail(make_error_code(Errc::kIo), std::string("cannot ") + what + " " + p.string() + ": " + std::strerror(err) +
                                              "; check the disk and the permissions of the data directory");
}

Status write_all(int fd, ByteView data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(make_error_code(Errc::kIo), "short write");
    done += static_cast<std::size_t>(n);
  }
  return {};
}
}  // namespace

Result<FileStore> FileStore::open(std::filesystem::path dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return io_error("create", dir, ec.value());
  return FileStore(std::move(dir));
}

std::filesystem::path FileStore::file_of(std::string_view key) const {
  std::string name(key);
  for (char& c : name)
    if (c == '/') c = '_';
  return dir_ / name;
}

Status FileStore::sync_dir() const {
  const int fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return io_error("open", dir_, errno);
  const bool ok = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  return ok ? Status{} : io_error("fsync", dir_, err);
}

Status FileStore::put(std::string_view key, ByteView value, bool sync) {
  const auto file = file_of(key);
  auto tmp = file;
  tmp += ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("create", tmp, errno);
  Status s = write_all(fd, value);
  if (s.ok() && sync && ::fsync(fd) != 0) s = io_error("fsync", tmp, errno);
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), file.c_str()) != 0) s = io_error("rename", tmp, errno);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return sync ? sync_dir() : Status{};
}

Status FileStore::erase(std::string_view key, bool sync) {
  const auto file = file_of(key);
  if (::unlink(file.c_str()) != 0 && errno != ENOENT) return io_error("remove", file, errno);
  return sync ? sync_dir() : Status{};
}

Status FileStore::apply(const StoreWrite& w) {
  for (const auto& op : w.ops) {
    Status s = op.value ? put(op.key, *op.value, w.sync) : erase(op.key, w.sync);
    if (!s.ok()) return s;
  }
  return {};
}

std::optional<Bytes> FileStore::get(std::string_view key) const {
  std::ifstream in(file_of(key), std::ios::binary);
  if (!in) return std::nullopt;
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bft::Recovery FileStore::recovery() const {
  return bft::Recovery{get(bft::kSignerKey), get(bft::kDecidedKey)};
}

}  // namespace bc::consensus

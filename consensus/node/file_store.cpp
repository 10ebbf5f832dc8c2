#include "consensus/node/file_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "layers/crypto.hpp"
#include "layers/durable_file.hpp"

namespace bc::consensus {
namespace {
// A record file: [kFileMagic u32][slot_size u64] then two slots of
// slot_size bytes. A slot: [kSlotMagic u32][seq u64][len u32]
// [sha256(seq, len, value)][value], zeros after it.
constexpr std::uint32_t kFileMagic = 0x42435346;  // "BCSF"
constexpr std::uint32_t kSlotMagic = 0x42435352;  // "BCSR"
constexpr std::size_t kFileHeader = 4 + 8;
constexpr std::size_t kSlotHeader = 4 + 8 + 4 + 32;
constexpr std::uint64_t kMinSlot = 64u << 10;
constexpr std::uint64_t kMaxSlot = 1ull << 31;  // the len field's range, with room

void put_le(std::uint8_t* p, std::uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint64_t get_le(const std::uint8_t* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  return v;
}

Hash256 slot_digest(std::uint64_t seq, ByteView value) {
  std::uint8_t head[12];
  put_le(head, seq, 8);
  put_le(head + 8, value.size(), 4);
  Sha256 h;
  return h.update(ByteView(head, sizeof(head))).update(value).finish();
}

Bytes encode_slot(std::uint64_t seq, ByteView value) {
  Bytes out(kSlotHeader + value.size());
  put_le(out.data(), kSlotMagic, 4);
  put_le(out.data() + 4, seq, 8);
  put_le(out.data() + 12, value.size(), 4);
  const Hash256 d = slot_digest(seq, value);
  std::memcpy(out.data() + 16, d.data(), 32);
  if (!value.empty()) std::memcpy(out.data() + kSlotHeader, value.data(), value.size());
  return out;
}

// The record in one slot, or nullopt when the slot is empty or torn.
std::optional<std::pair<std::uint64_t, Bytes>> decode_slot(ByteView slot) {
  if (slot.size() < kSlotHeader || get_le(slot.data(), 4) != kSlotMagic) return std::nullopt;
  const std::uint64_t seq = get_le(slot.data() + 4, 8);
  const std::uint64_t len = get_le(slot.data() + 12, 4);
  if (len > slot.size() - kSlotHeader) return std::nullopt;
  const ByteView value(slot.data() + kSlotHeader, len);
  if (std::memcmp(slot_digest(seq, value).data(), slot.data() + 16, 32) != 0) return std::nullopt;
  return std::make_pair(seq, Bytes(value.begin(), value.end()));
}

Status io_error(const char* what, const std::filesystem::path& p, int err) {
  return fail(make_error_code(Errc::kIo), std::string("cannot ") + what + " " + p.string() + ": " + std::strerror(err) +
                                              "; check the disk and the permissions of the data directory");
}

Status pwrite_all(int fd, ByteView data, std::uint64_t offset, const std::filesystem::path& p) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return io_error("write", p, n < 0 ? errno : EIO);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

std::optional<Bytes> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
}  // namespace

Result<FileStore> FileStore::open(std::filesystem::path dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return io_error("create", dir, ec.value());
  return FileStore(std::move(dir));
}

std::filesystem::path FileStore::legacy_file_of(std::string_view key) const {
  std::string name(key);
  for (char& c : name)
    if (c == '/') c = '_';
  return dir_ / name;
}

std::filesystem::path FileStore::file_of(std::string_view key) const {
  auto p = legacy_file_of(key);
  p += ".rec";
  return p;
}

Status FileStore::sync_dir() const {
  const int fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return io_error("open", dir_, errno);
  const bool ok = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  return ok ? Status{} : io_error("fsync", dir_, err);
}

// A record file's slot size and its newest intact record (value nullopt if
// no slot holds one); nullopt if the bytes are not a record file.
std::optional<FileStore::Loaded> FileStore::parse(ByteView file) {
  if (file.size() < kFileHeader || get_le(file.data(), 4) != kFileMagic) return std::nullopt;
  Loaded l;
  l.slot_size = get_le(file.data() + 4, 8);
  if (l.slot_size < kSlotHeader || l.slot_size > kMaxSlot || file.size() != kFileHeader + 2 * l.slot_size)
    return std::nullopt;
  for (int s = 0; s < 2; ++s) {
    auto rec = decode_slot(ByteView(file.data() + kFileHeader + s * l.slot_size, l.slot_size));
    if (!rec || (l.value && rec->first <= l.seq)) continue;
    l.seq = rec->first;
    l.slot = s;
    l.value = std::move(rec->second);
  }
  return l;
}

// A new record file with `value` in slot 0, replacing the old file whole:
// layers/durable_file.hpp (written aside, synced, renamed over, the directory synced).
Status FileStore::create(std::string_view key, ByteView value, std::uint64_t seq) {
  std::uint64_t slot_size = kMinSlot;
  while (slot_size < 2 * (kSlotHeader + value.size()) && slot_size < kMaxSlot) slot_size *= 2;
  if (kSlotHeader + value.size() > slot_size) return fail(make_error_code(Errc::kIo), "a record of " + std::to_string(value.size()) +
                                                         " bytes is larger than the store's slots can hold (2 GiB)");
  Bytes file(kFileHeader + 2 * slot_size, 0);
  put_le(file.data(), kFileMagic, 4);
  put_le(file.data() + 4, slot_size, 8);
  const Bytes slot = encode_slot(seq, value);
  std::memcpy(file.data() + kFileHeader, slot.data(), slot.size());
  if (Status s = write_file_durably(file_of(key), file); !s.ok()) return s;
  slots_[std::string(key)] = Loaded{slot_size, seq, 0, std::nullopt};
  return {};
}

Status FileStore::put(std::string_view key, ByteView value, bool sync) {
  auto it = slots_.find(std::string(key));
  if (it == slots_.end()) {
    auto raw = read_file(file_of(key));
    auto loaded = raw ? parse(*raw) : std::nullopt;
    if (!loaded || !loaded->value) return create(key, value, 1);
    loaded->value.reset();  // only its place is kept
    it = slots_.emplace(std::string(key), std::move(*loaded)).first;
  }
  Loaded& l = it->second;
  if (kSlotHeader + value.size() > l.slot_size) return create(key, value, l.seq + 1);
  // The slot that does not hold the newest record: a torn write there
  // leaves the newest one intact.
  const int target = 1 - l.slot;
  const auto path = file_of(key);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return io_error("open", path, errno);
  Status s = pwrite_all(fd, encode_slot(l.seq + 1, value), kFileHeader + target * l.slot_size, path);
  if (s.ok() && sync && ::fdatasync(fd) != 0) s = io_error("fdatasync", path, errno);
  ::close(fd);
  if (!s.ok()) {
    slots_.erase(it);  // reloaded from the disk on the next write
    return s;
  }
  l.seq++;
  l.slot = target;
  return {};
}

Status FileStore::erase(std::string_view key, bool sync) {
  slots_.erase(std::string(key));
  for (const auto& file : {file_of(key), legacy_file_of(key)})
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
  auto raw = read_file(file_of(key));
  if (!raw) return read_file(legacy_file_of(key));  // a store written before record files
  if (auto l = parse(*raw); l && l->value) return l->value;
  // A damaged record file: its bytes, which no record decoder accepts, so
  // the node refuses to start (kCorrupt) instead of forgetting what it signed.
  return raw;
}

bft::Recovery FileStore::recovery() const {
  return bft::Recovery{get(bft::kSignerKey), get(bft::kDecidedKey)};
}

}  // namespace bc::consensus

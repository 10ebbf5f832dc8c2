#include "apps/storage/put_journal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "layers/assert.hpp"
#include "layers/crypto.hpp"

namespace bc::storage {
namespace {

constexpr std::uint32_t kMaxRecordBytes = 64u << 10;
constexpr std::size_t kCheckBytes = 8;
constexpr std::uint8_t kHeaderTag = 'H', kSegmentTag = 'S', kEscrowsTag = 'E';

Status io_error(const std::filesystem::path& path, const char* what) {
  return fail(Error::kIo, std::string("put journal ") + path.string() + ": " + what + ": " + std::strerror(errno));
}
Status corrupt(const std::filesystem::path& path, const std::string& what) {
  return fail(Error::kCorrupt, "put journal " + path.string() + " is damaged (" + what +
                                     "); remove it and put the file again without --resume");
}

void put_le(Bytes& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

// Reads little-endian fields from a record; any read past the end sets bad.
struct Reader {
  ByteView in;
  std::size_t pos = 0;
  bool bad = false;
  std::uint64_t le(int bytes) {
    if (in.size() - pos < static_cast<std::size_t>(bytes)) return bad = true, 0;
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= std::uint64_t{in[pos++]} << (8 * i);
    return v;
  }
  ByteView take(std::size_t n) {
    if (in.size() - pos < n) return bad = true, ByteView{};
    ByteView v = in.subspan(pos, n);
    pos += n;
    return v;
  }
  bool done() const { return !bad && pos == in.size(); }
};

Bytes encode_header(const PutJournalHeader& h) {
  Bytes out{kHeaderTag};
  out.insert(out.end(), h.file_salt.begin(), h.file_salt.end());
  put_le(out, h.segment_size, 4);
  put_le(out, h.data_shards, 4);
  put_le(out, h.parity_shards, 4);
  put_le(out, static_cast<std::uint64_t>(h.expires_at), 8);
  put_le(out, h.name.size(), 2);
  out.insert(out.end(), h.name.begin(), h.name.end());
  put_le(out, h.placement.size(), 4);
  for (std::size_t p : h.placement) put_le(out, p, 8);
  return out;
}

std::optional<PutJournalHeader> decode_header(ByteView payload) {
  Reader r{payload, 1};
  PutJournalHeader h;
  std::memcpy(h.file_salt.data(), r.take(h.file_salt.size()).data(), r.bad ? 0 : h.file_salt.size());
  h.segment_size = static_cast<std::uint32_t>(r.le(4));
  h.data_shards = static_cast<std::uint32_t>(r.le(4));
  h.parity_shards = static_cast<std::uint32_t>(r.le(4));
  h.expires_at = static_cast<TimeMs>(r.le(8));
  const std::size_t name_len = r.le(2);
  if (name_len > kMaxNameBytes) return std::nullopt;
  const ByteView name = r.take(name_len);
  h.name.assign(name.begin(), name.end());
  const std::size_t count = r.le(4);
  if (r.bad || count > kMaxTotalShards) return std::nullopt;
  for (std::size_t i = 0; i < count; ++i) h.placement.push_back(r.le(8));
  if (!r.done()) return std::nullopt;
  return h;
}

Bytes encode_segment(const PutJournalSegment& s) {
  Bytes out{kSegmentTag};
  put_le(out, s.plain_len, 4);
  out.insert(out.end(), s.plain_digest.bytes.begin(), s.plain_digest.bytes.end());
  put_le(out, s.roots.size(), 4);
  out.insert(out.end(), s.roots.begin(), s.roots.end());
  return out;
}

std::optional<PutJournalSegment> decode_segment(ByteView payload, std::size_t roots_bytes) {
  Reader r{payload, 1};
  PutJournalSegment s;
  s.plain_len = static_cast<std::uint32_t>(r.le(4));
  const ByteView digest = r.take(32);
  if (!r.bad) std::memcpy(s.plain_digest.bytes.data(), digest.data(), 32);
  if (r.le(4) != roots_bytes) return std::nullopt;
  const ByteView roots = r.take(roots_bytes);
  s.roots.assign(roots.begin(), roots.end());
  if (!r.done()) return std::nullopt;
  return s;
}

Bytes encode_escrows(const std::vector<ProviderEscrow>& escrows) {
  Bytes out{kEscrowsTag};
  put_le(out, escrows.size(), 4);
  for (const auto& e : escrows) {
    put_le(out, e.shard, 4);
    out.insert(out.end(), e.id.bytes.begin(), e.id.bytes.end());
    put_le(out, e.nonce, 8);
    out.insert(out.end(), e.provider.bytes.begin(), e.provider.bytes.end());
    put_le(out, e.amount, 8);
  }
  return out;
}

// At most one escrow per shard index, in increasing shard order.
std::optional<std::vector<ProviderEscrow>> decode_escrows(ByteView payload, std::uint32_t total_shards) {
  Reader r{payload, 1};
  const std::size_t count = r.le(4);
  if (r.bad || count > total_shards) return std::nullopt;
  std::vector<ProviderEscrow> out(count);
  for (std::size_t i = 0; i < count; ++i) {
    auto& e = out[i];
    e.shard = static_cast<std::uint32_t>(r.le(4));
    const ByteView id = r.take(32);
    if (!r.bad) std::memcpy(e.id.bytes.data(), id.data(), 32);
    e.nonce = r.le(8);
    const ByteView provider = r.take(32);
    if (!r.bad) std::memcpy(e.provider.bytes.data(), provider.data(), 32);
    e.amount = r.le(8);
    if (r.bad || e.shard >= total_shards || (i > 0 && e.shard <= out[i - 1].shard)) return std::nullopt;
  }
  if (!r.done()) return std::nullopt;
  return out;
}

// [u32 length][payload][first kCheckBytes of SHA-256(payload)]
Bytes frame(const Bytes& payload) {
  BC_ASSERT(!payload.empty() && payload.size() <= kMaxRecordBytes);
  Bytes record;
  put_le(record, payload.size(), 4);
  record.insert(record.end(), payload.begin(), payload.end());
  const Hash256 check = sha256(payload);
  record.insert(record.end(), check.bytes.begin(), check.bytes.begin() + kCheckBytes);
  return record;
}

}  // namespace

Result<PutJournal> PutJournal::open(const std::filesystem::path& path) {
  PutJournal j(path);
  j.fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (j.fd_ < 0) return io_error(path, "cannot open");
  Status s = j.load();
  if (!s.ok()) return s;
  return j;
}

PutJournal::PutJournal(PutJournal&& o) noexcept
    : path_(std::move(o.path_)), fd_(std::exchange(o.fd_, -1)), header_(std::move(o.header_)),
      escrows_(std::move(o.escrows_)), segments_(std::move(o.segments_)) {}

PutJournal& PutJournal::operator=(PutJournal&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(o.path_);
    fd_ = std::exchange(o.fd_, -1);
    header_ = std::move(o.header_);
    escrows_ = std::move(o.escrows_);
    segments_ = std::move(o.segments_);
  }
  return *this;
}

PutJournal::~PutJournal() {
  if (fd_ >= 0) ::close(fd_);
}

Result<PutJournalContents> parse_put_journal(ByteView file, const std::filesystem::path& path) {
  PutJournalContents out;
  std::size_t pos = 0;
  while (file.size() - pos >= 4) {
    Reader len{file.subspan(pos, 4)};
    const std::size_t n = len.le(4);
    if (n == 0 || n > kMaxRecordBytes || file.size() - pos - 4 < n + kCheckBytes) break;  // torn tail
    const ByteView payload = file.subspan(pos + 4, n);
    const Hash256 check = sha256(payload);
    if (std::memcmp(check.bytes.data(), file.data() + pos + 4 + n, kCheckBytes) != 0) break;  // torn tail
    const std::uint32_t total = out.header ? out.header->data_shards + out.header->parity_shards : 0;
    if (!out.header) {
      out.header = payload[0] == kHeaderTag ? decode_header(payload) : std::nullopt;
      if (!out.header) return corrupt(path, "the first record is not a put header");
    } else if (payload[0] == kEscrowsTag && !out.escrows && out.segments.empty()) {
      out.escrows = decode_escrows(payload, total);
      if (!out.escrows) return corrupt(path, "the escrows record does not decode");
    } else {
      const std::size_t roots = std::size_t{total} * 32;
      auto seg = payload[0] == kSegmentTag ? decode_segment(payload, roots) : std::nullopt;
      if (!seg) return corrupt(path, "record " + std::to_string(out.segments.size() + 1) + " is not a segment");
      out.segments.push_back(std::move(*seg));
    }
    pos += 4 + n + kCheckBytes;
  }
  out.valid_bytes = pos;
  return out;
}

Bytes encode_put_journal_record(const PutJournalHeader& header) { return frame(encode_header(header)); }
Bytes encode_put_journal_record(const PutJournalSegment& segment) { return frame(encode_segment(segment)); }
Bytes encode_put_journal_record(const std::vector<ProviderEscrow>& escrows) { return frame(encode_escrows(escrows)); }

// Reads every record; a torn or corrupt last record is cut off the file so
// the next append starts at a record boundary.
Status PutJournal::load() {
  Bytes file;
  std::uint8_t buf[1 << 16];
  for (ssize_t n; (n = ::read(fd_, buf, sizeof buf)) != 0;) {
    if (n < 0) return io_error(path_, "cannot read");
    file.insert(file.end(), buf, buf + n);
  }
  auto parsed = parse_put_journal(file, path_);
  if (!parsed.ok()) return parsed.status();
  header_ = std::move(parsed->header);
  escrows_ = std::move(parsed->escrows);
  segments_ = std::move(parsed->segments);
  if (parsed->valid_bytes != file.size() && ::ftruncate(fd_, static_cast<off_t>(parsed->valid_bytes)) != 0)
    return io_error(path_, "cannot cut a torn record");
  if (::lseek(fd_, 0, SEEK_END) < 0) return io_error(path_, "cannot seek");
  return Status::success();
}

Status PutJournal::append(const Bytes& record) {
  for (std::size_t done = 0; done < record.size();) {
    const ssize_t n = ::write(fd_, record.data() + done, record.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error(path_, "cannot write");
    done += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd_) != 0) return io_error(path_, "cannot sync");
  return Status::success();
}

Status PutJournal::begin(const PutJournalHeader& header) {
  BC_ASSERT_MSG(!header_, "a put journal is begun once");
  Status s = append(encode_put_journal_record(header));
  if (s.ok()) header_ = header;
  return s;
}

Status PutJournal::record_escrows(const std::vector<ProviderEscrow>& escrows) {
  BC_ASSERT_MSG(header_.has_value() && !escrows_ && segments_.empty(), "escrows are journaled once, before any segment");
  Status s = append(encode_put_journal_record(escrows));
  if (s.ok()) escrows_ = escrows;
  return s;
}

Status PutJournal::segment_done(const PutJournalSegment& segment) {
  BC_ASSERT_MSG(header_.has_value(), "a segment is journaled after the header");
  BC_ASSERT(segment.roots.size() == std::size_t{header_->data_shards + header_->parity_shards} * 32);
  Status s = append(encode_put_journal_record(segment));
  if (s.ok()) segments_.push_back(segment);
  return s;
}

Status PutJournal::finish() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  std::error_code ec;
  std::filesystem::remove(path_, ec);
  if (ec) return fail(Error::kIo, "cannot remove put journal " + path_.string() + ": " + ec.message());
  return Status::success();
}

}  // namespace bc::storage

// The put journal: what a put has durably done, so a client killed mid-put
// resumes (`storage put --resume`) without sending again what providers
// confirmed. Once puts are paid, the escrows go here too, so a resumed put
// never pays twice (docs/storage.md "Resuming a put").
//
// The file is a header record, an escrows record when the put is paid, and
// one record per confirmed segment, each
// [u32 length][payload][first 8 bytes of SHA-256(payload)], fdatasync'ed
// before put() moves on. A torn or corrupt last record (a crash mid-append)
// is dropped; anything else that does not decode is an error.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "apps/storage/cipher.hpp"
#include "apps/storage/format.hpp"
#include "layers/runtime.hpp"

namespace bc::storage {

// The options a put was started with; a resume must match them.
struct PutJournalHeader {
  Salt file_salt{};
  std::uint32_t segment_size = 0;
  std::uint32_t data_shards = 0;
  std::uint32_t parity_shards = 0;
  TimeMs expires_at = 0;
  std::string name;
  std::vector<std::size_t> placement;
};

// What an audit of a paid shard found (file records; `storage pay`).
enum class LastAudit : std::uint8_t { kNone, kPassed, kFailed };

// One provider's escrow for this put (payment.hpp): recorded before any
// shard is sent, so a resumed put opens the same escrows (same nonces, so
// the same IDs) and never a second set.
struct ProviderEscrow {
  std::uint32_t shard = 0;    // the shard index the provider holds
  Hash256 id;                 // ledger::escrow_id_of(client, nonce)
  std::uint64_t nonce = 0;    // the client's nonce reserved for its EscrowOpen
  Hash256 provider;           // the provider's ledger account (ledger::Address)
  std::uint64_t amount = 0;   // deposited, base units
  std::uint64_t paid = 0;     // the highest cumulative receipt signed so far (file records)
  // What the last `storage pay` that audited found for its shard (file
  // records): after the period it decides the final receipt.
  LastAudit last_audit = LastAudit::kNone;
  friend bool operator==(const ProviderEscrow&, const ProviderEscrow&) = default;
};

// One confirmed segment: its plaintext digest (to check the source did not
// change) and its k + m shard roots.
struct PutJournalSegment {
  std::uint32_t plain_len = 0;
  Hash256 plain_digest;
  Bytes roots;
};

// What a journal file holds: its records up to valid_bytes; what follows is
// a torn record. Fails only on a whole, checksummed record that is not what
// belongs there. Bounded: records over 64 KiB are never read.
struct PutJournalContents {
  std::optional<PutJournalHeader> header;
  std::optional<std::vector<ProviderEscrow>> escrows;  // an 'E' record right after the header
  std::vector<PutJournalSegment> segments;
  std::size_t valid_bytes = 0;
};
Result<PutJournalContents> parse_put_journal(ByteView file, const std::filesystem::path& path);
// One record as it is appended to the file.
Bytes encode_put_journal_record(const PutJournalHeader& header);
Bytes encode_put_journal_record(const PutJournalSegment& segment);
Bytes encode_put_journal_record(const std::vector<ProviderEscrow>& escrows);

class PutJournal {
 public:
  // Opens the journal at `path`, reading what an earlier attempt recorded
  // (nothing if the file does not exist).
  static Result<PutJournal> open(const std::filesystem::path& path);
  PutJournal(PutJournal&&) noexcept;
  PutJournal& operator=(PutJournal&&) noexcept;
  ~PutJournal();

  const std::optional<PutJournalHeader>& header() const { return header_; }
  const std::vector<PutJournalSegment>& segments() const { return segments_; }
  // The put's escrows, when it is paid.
  const std::optional<std::vector<ProviderEscrow>>& escrows() const { return escrows_; }

  // Starts a fresh journal. REQUIRES: !header().
  Status begin(const PutJournalHeader& header);
  // Records the put's escrows before any shard is sent.
  // REQUIRES: header(), !escrows(), segments().empty().
  Status record_escrows(const std::vector<ProviderEscrow>& escrows);
  // Records segment `segments().size()` as confirmed. REQUIRES: header().
  Status segment_done(const PutJournalSegment& segment);
  // Deletes the journal: call once the StoredFile is saved.
  Status finish();
  const std::filesystem::path& path() const { return path_; }

 private:
  explicit PutJournal(std::filesystem::path path) : path_(std::move(path)) {}
  Status load();
  Status append(const Bytes& record);

  std::filesystem::path path_;
  int fd_ = -1;
  std::optional<PutJournalHeader> header_;
  std::optional<std::vector<ProviderEscrow>> escrows_;
  std::vector<PutJournalSegment> segments_;
};

}  // namespace bc::storage

#include "apps/storage/chunk_lists.hpp"

#include <cstring>
#include <fstream>

#include "layers/assert.hpp"
#include "layers/durable_file.hpp"
#include "layers/merkle.hpp"
#include "layers/private_dir.hpp"
#include "ledger/pos/storage_proof.hpp"

namespace bc::storage {
namespace fs = std::filesystem;

Result<Hash256> save_chunk_list(const fs::path& dir, const std::vector<ShardId>& shards) {
  BC_ASSERT(!shards.empty());
  if (Status made = create_private_dirs(dir); !made.ok()) return made;
  Bytes bytes(shards.size() * 32);
  for (std::size_t i = 0; i < shards.size(); ++i) std::memcpy(bytes.data() + 32 * i, shards[i].bytes.data(), 32);
  const Hash256 root = merkle::list_root(shards);
  if (Status s = write_file_durably(dir / root.hex(), bytes); !s.ok()) return s;
  return root;
}

Status remove_chunk_list(const fs::path& dir, const Hash256& root) { return remove_file_durably(dir / root.hex()); }

namespace {

// The list in `file`, or why it is not one.
Result<std::vector<ShardId>> read_list(const fs::path& file) {
  const auto named = Hash256::from_hex(file.filename().string());
  if (!named) return fail(Error::kCorrupt, "not named by a storage root");
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(file, ec);
  if (ec || size == 0 || size % 32 != 0 || size / 32 > pos::kMaxOfferChunks)  // checked before reading any of it
    return fail(Error::kCorrupt, std::to_string(ec ? 0 : size) + " bytes are not 1..65536 shard ids");
  Bytes bytes(static_cast<std::size_t>(size));  // reads exactly that much, whatever the file does meanwhile
  std::ifstream in(file, std::ios::binary);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (in.gcount() != static_cast<std::streamsize>(bytes.size())) return fail(Error::kIo, "cannot read");
  const std::size_t n = bytes.size() / 32;
  std::vector<ShardId> shards(n);
  for (std::size_t i = 0; i < n; ++i) std::memcpy(shards[i].bytes.data(), bytes.data() + 32 * i, 32);
  if (merkle::list_root(shards) != *named) return fail(Error::kCorrupt, "content does not hash to its name");
  return shards;
}

}  // namespace

LoadedChunkLists load_chunk_lists(const fs::path& dir) {
  LoadedChunkLists out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file() || entry.path().extension() == ".tmp") continue;
    auto list = read_list(entry.path());
    if (list.ok()) {
      out.lists.push_back(std::move(list).value());
    } else {
      out.skipped.push_back(entry.path().string() + ": " + list.status().message);
    }
  }
  if (ec) out.skipped.push_back(dir.string() + ": " + ec.message());
  return out;
}

}  // namespace bc::storage

// The chunk lists a provider's storage offers commit to (docs/proof-of-service.md
// "Storage offers and the storage probe"), one file per list in a directory:
// DIR/<storage root, 64 hex digits>, the list's shard IDs, 32 bytes each.
//
// A list is written durably before its root is handed out, so an offer the
// operator registers on chain finds its list after any crash. Plain blocking
// file I/O: lists are small (at most 2 MiB) and made by an operator's command.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "apps/storage/format.hpp"
#include "layers/status.hpp"

namespace bc::storage {

// Writes `shards` as a list under `dir` (created 0700 if missing) and
// returns its root (merkle::list_root). REQUIRES: shards not empty.
Result<Hash256> save_chunk_list(const std::filesystem::path& dir, const std::vector<ShardId>& shards);

// Removes the list `root` from `dir` durably (a missing one is fine).
Status remove_chunk_list(const std::filesystem::path& dir, const Hash256& root);

struct LoadedChunkLists {
  std::vector<std::vector<ShardId>> lists;
  std::vector<std::string> skipped;  // "<file>: <why>" for files that are not a list (left in place)
};
// Every list under `dir` (none when it does not exist). A file whose bytes
// are not whole shard IDs, are empty, or do not hash to its name is skipped.
LoadedChunkLists load_chunk_lists(const std::filesystem::path& dir);

}  // namespace bc::storage

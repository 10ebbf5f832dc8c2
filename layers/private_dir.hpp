// Private directories: a node's data directory holds its key, its ledger and
// its RPC credentials, so every directory it creates is mode 0700 whatever
// the process umask is.
#pragma once
#include <filesystem>

#include "layers/status.hpp"

namespace bc {

// Creates every missing directory on the way to `dir` with mode exactly 0700
// (the umask cannot widen or narrow it). Directories that already exist are
// left as they are. Fails with a message naming the directory, the reason and
// what to check.
Status create_private_dirs(const std::filesystem::path& dir);

}  // namespace bc

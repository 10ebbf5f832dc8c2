// The CLI's wallet: account keys as files NAME.key (hex secret, mode 0600)
// in a wallet directory (default ~/.blockcloud/wallet, --wallet-dir).
#pragma once
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "layers/crypto.hpp"
#include "ledger/types.hpp"

namespace bc::cli {

// Every wallet failure (missing, malformed or exposed key file, bad name).
struct WalletError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct WalletKey {
  std::string name;
  std::filesystem::path file;
  KeyPair key;
  ledger::Address address;
};

std::filesystem::path default_wallet_dir();
// Creates NAME.key; throws std::runtime_error if it exists or the name is not [A-Za-z0-9_.-]{1,64}.
WalletKey wallet_new(const std::filesystem::path& dir, const std::string& name);
// Every NAME.key in dir, sorted by name (throws naming a bad file).
std::vector<WalletKey> wallet_list(const std::filesystem::path& dir);
// NAME, or the only key if name is empty; throws saying what exists otherwise.
WalletKey wallet_get(const std::filesystem::path& dir, const std::string& name);

}  // namespace bc::cli

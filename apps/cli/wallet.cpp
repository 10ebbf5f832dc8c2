#include "apps/cli/wallet.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

namespace bc::cli {
namespace fs = std::filesystem;

fs::path default_wallet_dir() {
  const char* home = std::getenv("HOME");
  return fs::path(home ? home : ".") / ".blockcloud" / "wallet";
}

namespace {
WalletKey load(const fs::path& file) {
  // load_or_create_key_file checks the mode (0600) and the format.
  std::optional<KeyPair> key;
  try {
    key = load_or_create_key_file(file);
  } catch (const std::exception& e) {
    throw WalletError(e.what());
  }
  return WalletKey{file.stem().string(), file, *key, ledger::address_of(key->public_key())};
}
}  // namespace

WalletKey wallet_new(const fs::path& dir, const std::string& name) {
  if (name.empty() || name.size() > 64 ||
      !std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }))
    throw WalletError("wallet name \"" + name + "\": use 1 to 64 letters, digits, '_', '-' or '.'");
  const fs::path file = dir / (name + ".key");
  if (fs::exists(file))
    throw WalletError(file.string() + " already exists; choose another --name (keys are never overwritten)");
  return load(file);  // creates it with mode 0600 (directory 0700)
}

std::vector<WalletKey> wallet_list(const fs::path& dir) {
  std::vector<WalletKey> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".key") out.push_back(load(e.path()));
  std::sort(out.begin(), out.end(), [](const WalletKey& a, const WalletKey& b) { return a.name < b.name; });
  return out;
}

WalletKey wallet_get(const fs::path& dir, const std::string& name) {
  if (!name.empty()) {
    const fs::path file = dir / (name + ".key");
    if (!fs::exists(file))
      throw WalletError("no key \"" + name + "\" in " + dir.string() + "; see `blockcloud-cli wallet list`");
    return load(file);
  }
  auto all = wallet_list(dir);
  if (all.empty())
    throw WalletError("no keys in " + dir.string() + "; create one with `blockcloud-cli wallet new` or pass --wallet-dir");
  if (all.size() > 1) {
    std::string names;
    for (const auto& k : all) names += (names.empty() ? "" : ", ") + k.name;
    throw WalletError("several keys in " + dir.string() + " (" + names + "); choose one with --from NAME");
  }
  return all.front();
}

}  // namespace bc::cli

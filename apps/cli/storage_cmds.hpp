// blockcloud-cli's storage commands (docs/storage.md):
//   storage put FILE [--resume]   encrypt, erasure-code and spread FILE over providers; prints its ID
//   storage get ID [-o OUT]       fetch, check and decrypt (stdout without -o)
//   storage ls                    the files stored from this machine
//   storage rm ID                 delete every shard
//   storage status ID             where the shards are, which providers are listed now
//   storage verify ID             audit every shard with fresh Merkle challenges
//   storage repair ID             rebuild shards that failed onto new providers
//   storage pay ID                audit, then send receipts to the providers that passed;
//                                 close the escrows that expired
//   storage providers             the storage directory
// The CLI embeds a node (storage::StorageNode) that joins the network through
// the daemon's DHT address (RPC `status`, or --bootstrap) and reaches
// providers by service ID itself: the master key and the plaintext stay in
// this process; the daemon sees neither.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/cli/commands.hpp"
#include "apps/cli/rpc.hpp"
#include "apps/cli/wallet.hpp"

namespace bc::cli {

struct LedgerLink;
class StorageDir;
struct FileEntry;

// The wallet key that pays for storage (--from), from the ledger commands.
struct StoragePayer {
  std::function<WalletKey()> key;          // throws when there is no such key
  std::function<void(CLI::App*)> add_from; // adds --from to a command
};

class StorageCommands {
 public:
  // Adds `storage ...` to `app`; the registrations refer to this object, so
  // it must outlive the dispatch.
  StorageCommands(CLI::App& app, CommandTable& commands, StoragePayer payer);
  StorageCommands(const StorageCommands&) = delete;
  StorageCommands& operator=(const StorageCommands&) = delete;

 private:
  using Method = int (StorageCommands::*)(const Options&, const Endpoint&);
  CLI::App* add(CLI::App* parent, const std::string& name, const std::string& help, Method method);

  int put(const Options& o, const Endpoint& rpc);
  int get(const Options& o, const Endpoint& rpc);
  int ls(const Options& o, const Endpoint& rpc);
  int rm(const Options& o, const Endpoint& rpc);
  int status(const Options& o, const Endpoint& rpc);
  int verify(const Options& o, const Endpoint& rpc);
  int repair(const Options& o, const Endpoint& rpc);
  int providers(const Options& o, const Endpoint& rpc);
  int pay(const Options& o, const Endpoint& rpc);
  bool send_receipts(const Options& o, const Endpoint& rpc, const LedgerLink& ledger, const WalletKey& payer, const StorageDir& dir,
                     FileEntry& e);

  CommandTable& commands_;
  StoragePayer payer_;
  std::string dir_, file_, id_, out_, name_, bind_ = "127.0.0.1";
  std::vector<std::string> bootstrap_;
  bool resume_ = false;
  std::uint32_t data_shards_ = 4, parity_shards_ = 2, segment_mib_ = 4;
  double days_ = 30, payment_grace_s_ = 3600;
};

}  // namespace bc::cli

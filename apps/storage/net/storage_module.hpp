// storage::StorageModule: a storage provider as a module of blockcloudd
// (layers/node/module.hpp), enabled by the [storage] config table.
//
// It opens the shard store under `dir`, and on start() serves the node's
// storage service through the SAL like any provider (NodeStack::serve): the
// service is owned by a key kept in `dir/owner.key` (a SAL owner may not be
// its own provider) and named "storage", so its ID stays the same across
// restarts; the owner delegates this node's key at each start. Accepted
// flows go to a ProviderService. The node also publishes an advertisement
// (service ID, capacity, free bytes, price) under the storage directory key
// (directory.hpp), refreshed while free space changes. A serve or publish
// that fails (no DHT contacts yet at start-up) is retried each second.
//
// Garbage collection: each refresh deletes up to 64 shards whose expiry
// plus gc_grace_ms has passed, and checks up to 16 escrows of priced shards
// stored more than unpaid_grace_ms ago, deleting those no escrow pays for
// (UnpaidCollector). Neither touches a shard a storage offer commits to:
// its chunk list pins it until the ChunkListReleaser finds every offer on
// it ended (docs/storage.md "Committed shards").
//
// Payment (docs/storage.md "Payment"): the owner key's account is
// advertised; clients' usage receipts are claimed on the node's ledger each
// refresh (EscrowClaimer); a node without a ledger only counts them.
//
// RPC: storage_status.
//
// Threads: io thread only. `stack` must outlive the module.
#pragma once
#include <filesystem>
#include <memory>
#include <optional>

#include <boost/asio/steady_timer.hpp>

#include "apps/storage/net/chunk_list_release.hpp"
#include "apps/storage/net/directory.hpp"
#include "apps/storage/net/escrow_claims.hpp"
#include "apps/storage/net/provider_service.hpp"
#include "apps/storage/net/unpaid_collector.hpp"
#include "layers/node/module.hpp"
#include "sal/node/node_stack.hpp"

namespace bc::storage {

struct StorageModuleConfig {
  std::filesystem::path dir;         // shards, index and owner.key
  std::uint64_t capacity_bytes = 0;  // > 0
  std::uint64_t price = 0;           // base units per GiB per day
  TimeMs refresh_ms = 5'000;         // retry and free-space refresh period
  // Shards are garbage-collected this long after their expiry (the
  // payment grace period, docs/storage.md "Garbage collection").
  TimeMs gc_grace_ms = 60 * 60 * 1000;
  // Priced shards that no escrow pays for are deleted this long after their
  // put (docs/storage.md "Unpaid objects"); 0: never.
  TimeMs unpaid_grace_ms = 60 * 60 * 1000;
  // TEST ONLY (blockcloudd --test-fault storage-wrong-answers): sign wrong
  // audit answers, so that a storage offer of this provider is proven malicious.
  bool test_wrong_answers = false;
};

class StorageModule final : public node::Module {
 public:
  // Opens the store and the owner key. Throws std::runtime_error saying what
  // is wrong with `dir`.
  StorageModule(sal::NodeStack& stack, StorageModuleConfig config);
  ~StorageModule() override;

  std::string_view name() const override { return "storage"; }
  void register_rpc(node::RpcRegistry& rpc) override;
  void start() override;
  void stop() override;

  const sal::ServiceId& service() const { return service_; }

 private:
  void serve();
  void publish_ad();
  void on_refresh();
  void collect_garbage();
  void load_chunk_lists();
  boost::json::value commit_chunks();
  void release_chunk_list(const Hash256& root, const std::string& why);
  boost::json::value status() const;

  sal::NodeStack& stack_;
  StorageModuleConfig config_;
  KeyPair owner_;
  sal::ServiceId service_;
  std::unique_ptr<ProviderService> provider_;
  std::unique_ptr<EscrowClaimer> claimer_;  // made in register_rpc
  std::unique_ptr<UnpaidCollector> unpaid_;  // made in register_rpc unless unpaid_grace_ms is 0
  std::unique_ptr<ChunkListReleaser> releaser_;  // made in register_rpc
  boost::asio::steady_timer timer_;
  bool serving_ = false;             // the endpoint record is published
  std::optional<ProviderAd> published_;  // the advertisement last stored
  bool publishing_ = false;
  std::uint64_t serve_failures_ = 0, listing_failures_ = 0;  // in a row, for the log
  bool stopped_ = false;
  bool collecting_ = false;
  std::uint64_t collected_ = 0;  // shards garbage-collected since start
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace bc::storage

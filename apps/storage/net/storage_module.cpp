#include "apps/storage/net/storage_module.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "layers/assert.hpp"
#include "apps/storage/chunk_lists.hpp"
#include "layers/private_dir.hpp"
#include "ledger/pos/storage_proof.hpp"
#include "ledger/types.hpp"
#include "sal/records/delegation.hpp"
#include "sal/records/service_id.hpp"

namespace bc::storage {
namespace {
constexpr const char* kServiceName = kStorageServiceName;
constexpr TimeMs kDelegationLifetimeMs = 365LL * 24 * 3600 * 1000;
constexpr TimeMs kAdTtlMs = 10 * 60 * 1000;

KeyPair open_owner_key(const std::filesystem::path& dir) {
  if (auto made = create_private_dirs(dir); !made.ok())
    throw std::runtime_error("storage dir " + dir.string() + ": " + made.message + "; choose a writable [storage] dir");
  return load_or_create_key_file(dir / "owner.key");
}
// The first failure in a row is a warning, then one line a minute (a lone
// node retries each second).
void log_retry(std::uint64_t& failures, const char* what, const std::string& why) {
  if (failures++ % 60 == 0) spdlog::warn("storage: {} failed ({}); retrying each second ({} failures in a row)", what, why, failures);
}
}  // namespace

StorageModule::StorageModule(sal::NodeStack& stack, StorageModuleConfig config)
    : stack_(stack), config_(std::move(config)), owner_(open_owner_key(config_.dir)), timer_(stack.io()) {
  if (config_.capacity_bytes == 0) throw std::runtime_error("storage.capacity: must be more than 0 bytes");
  service_ = sal::service_id_of(owner_.public_key(), kServiceName);
  // Audit answers are signed by the service owner's key, which a storage
  // offer names as its provider key (docs/proof-of-service.md "Storage probe").
  ProviderOptions options;
  options.answer_key = owner_;
  options.price = config_.price;
  options.test_sign_wrong_answers = config_.test_wrong_answers;
  if (config_.test_wrong_answers) spdlog::warn("storage: TEST FAULT: this provider signs wrong audit answers");
  auto p = ProviderService::open(stack_.io(), StoreOptions{config_.dir, config_.capacity_bytes, {}}, std::move(options));
  if (!p.ok())
    throw std::runtime_error("storage dir " + config_.dir.string() + ": " + p.status().message +
                             "; check the disk, or move the damaged store away");
  provider_ = std::move(p).value();
  load_chunk_lists();
}

// The lists of earlier storage offers: served again after a restart.
void StorageModule::load_chunk_lists() {
  LoadedChunkLists loaded = storage::load_chunk_lists(config_.dir / "offers");
  for (const std::string& why : loaded.skipped) spdlog::warn("storage: skipped chunk list {}", why);
  for (auto& list : loaded.lists) provider_->add_chunk_list(std::move(list));
}

// Commits the shards held now to a new chunk list, for a storage offer
// (docs/proof-of-service.md "Storage offers and the storage probe"): written
// durably, then served.
boost::json::value StorageModule::commit_chunks() {
  std::vector<ShardId> shards = provider_->store().held(pos::kMaxOfferChunks);
  if (shards.empty())
    throw node::RpcError(node::kOperationFailed, "this provider holds no shards yet; store a file on it first");
  auto root = save_chunk_list(config_.dir / "offers", shards);
  if (!root.ok()) throw node::RpcError(node::kOperationFailed, "cannot save the chunk list: " + root.status().message);
  const std::size_t n = shards.size();
  const Hash256 served = provider_->add_chunk_list(std::move(shards));
  BC_ASSERT(served == *root);
  if (releaser_) releaser_->track(*root, sal::Host::now_ms());
  spdlog::info("storage: committed {} shard(s) to chunk list {}", n, root->hex());
  return boost::json::object{{"storage_root", root->hex()},
                             {"storage_chunks", n},
                             {"provider_key", to_hex(owner_.public_key().view())},
                             {"service", sal::service_id_to_text(service_)},
                             {"owner_key_file", (config_.dir / "owner.key").string()}};
}

// The offers on `root` ended: its file goes first (durably), so a crash
// after it loads the list no more; then its shards are unpinned.
void StorageModule::release_chunk_list(const Hash256& root, const std::string& why) {
  if (Status s = remove_chunk_list(config_.dir / "offers", root); !s.ok()) {
    spdlog::warn("storage: cannot release chunk list {}: {}; its shards stay pinned", root.hex(), s.message);
    return releaser_->track(root, sal::Host::now_ms());  // tried again at the next step
  }
  provider_->release_chunk_list(root);
  spdlog::info("storage: released chunk list {} ({}); its shards may be deleted again", root.hex(), why);
}

StorageModule::~StorageModule() { stop(); }

void StorageModule::register_rpc(node::RpcRegistry& rpc) {
  rpc.add("storage_status", [this](const node::Params&) { return status(); });
  rpc.add("storage_commit_chunks", [this](const node::Params&) { return commit_chunks(); });
  claimer_ = std::make_unique<EscrowClaimer>(rpc, owner_);
  if (config_.unpaid_grace_ms > 0)
    unpaid_ = std::make_unique<UnpaidCollector>(rpc, *provider_, ledger::address_of(owner_.public_key()), config_.unpaid_grace_ms);
  releaser_ = std::make_unique<ChunkListReleaser>(
      rpc, [this](const Hash256& root, const std::string& why) { release_chunk_list(root, why); });
  for (const Hash256& root : provider_->chunk_list_roots()) releaser_->track(root, sal::Host::now_ms());  // loaded at start
}

void StorageModule::start() {
  const auto& r = provider_->store().recovery();
  spdlog::info("storage: service {} in {} capacity {} bytes used {} price {}; recovered {} shards ({} orphans removed, "
               "{} entries dropped)",
               sal::service_id_to_text(service_), config_.dir.string(), config_.capacity_bytes,
               provider_->store().used_bytes(), config_.price, r.shards, r.orphans_removed, r.entries_dropped);
  serve();
  publish_ad();
  on_refresh();
}

void StorageModule::stop() {
  if (stopped_) return;
  stopped_ = true;
  *alive_ = false;
  timer_.cancel();
  if (stack_.serving(service_)) stack_.stop_serving(service_, nullptr);
  stack_.driver().call([&](TimeMs, Outbox&) { stack_.dht().unpublish(storage_directory_key()); });
  provider_->close_flows();
}

// Serves the storage service; a failed publish rolls back and is retried by on_refresh.
void StorageModule::serve() {
  const TimeMs now = sal::Host::now_ms();
  const auto d = sal::make_delegation(owner_, kServiceName, stack_.key().public_key(), static_cast<std::uint64_t>(now),
                                      now - 60'000, now + kDelegationLifetimeMs);
  std::weak_ptr<bool> alive = alive_;
  ProviderService* provider = provider_.get();
  serving_ = true;  // until the publish says otherwise (it may answer at once)
  auto served = stack_.serve(
      sal::encode_delegation(d),
      [alive, provider](std::unique_ptr<sal::ByteStream> flow, const XOnlyPubKey&) {
        if (alive.lock()) provider->accept(std::move(flow));
      },
      sal::ServeOptions{}, [this, alive](const routing::PutResult& r) {
        if (!alive.lock()) return;
        serving_ = r.ok();
        if (!r.ok()) return log_retry(serve_failures_, "publishing the service", r.status.message);
        serve_failures_ = 0;
        spdlog::info("storage: serving {} ({} copies of the record)", sal::service_id_to_text(service_), r.stored);
      });
  BC_ASSERT(served.ok());  // our own fresh delegation of our own key
}

void StorageModule::publish_ad() {
  const auto& store = provider_->store();
  // Our Coral clusters, so clients can spread a file over clusters; a
  // cluster change republishes like a change of free space.
  const routing::DhtStatus dht = stack_.dht().status();
  ProviderAd ad{service_,
                config_.capacity_bytes,
                config_.capacity_bytes - std::min(config_.capacity_bytes, store.used_bytes() + store.reserved_bytes()),
                config_.price,
                dht.cluster_ids[1],
                dht.cluster_ids[2],
                owner_.public_key(),  // its account is paid (docs/storage.md "Payment")
                {}};
  if (publishing_ || (published_ && *published_ == ad)) return;
  publishing_ = true;
  std::weak_ptr<bool> alive = alive_;
  stack_.driver().call([&](TimeMs now, Outbox& out) {
    stack_.dht().publish(storage_directory_key(), encode_provider_ad(ad), kAdTtlMs, now, out,
                         [this, alive, ad](const routing::PutResult& r) {
                           if (!alive.lock()) return;
                           publishing_ = false;
                           if (!r.ok())
                             return log_retry(listing_failures_, "listing in the storage directory", r.status.message);
                           published_ = ad;
                           listing_failures_ = 0;
                         });
  });
}

void StorageModule::on_refresh() {
  if (stopped_) return;
  if (!serving_) serve();
  publish_ad();
  if (claimer_) {
    claimer_->add(provider_->take_receipts());
    claimer_->step();
  }
  collect_garbage();
  if (unpaid_) unpaid_->step(sal::Host::now_ms());
  if (releaser_) releaser_->step(sal::Host::now_ms());
  // Until the service and the listing are out (no DHT contacts yet at start), retry each second.
  const TimeMs period = serving_ && published_ ? config_.refresh_ms : std::min<TimeMs>(config_.refresh_ms, 1'000);
  timer_.expires_after(std::chrono::milliseconds(period));
  std::weak_ptr<bool> alive = alive_;
  timer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (!ec && alive.lock()) on_refresh();
  });
}

void StorageModule::collect_garbage() {
  constexpr std::size_t kPerRound = 64;
  if (collecting_) return;
  collecting_ = true;
  std::weak_ptr<bool> alive = alive_;
  provider_->collect_expired(sal::Host::now_ms() - config_.gc_grace_ms, kPerRound, [this, alive](std::size_t n) {
    if (!alive.lock()) return;
    collecting_ = false;
    collected_ += n;
    if (n > 0) spdlog::info("storage: garbage-collected {} expired shard(s)", n);
  });
}

boost::json::value StorageModule::status() const {
  const auto& store = provider_->store();
  const auto& st = provider_->stats();
  boost::json::object o;
  o["service"] = sal::service_id_to_text(service_);
  o["serving"] = serving_;
  o["listed"] = published_.has_value();
  o["dir"] = config_.dir.string();
  o["capacity_bytes"] = config_.capacity_bytes;
  o["used_bytes"] = store.used_bytes();
  o["reserved_bytes"] = store.reserved_bytes();
  o["price"] = config_.price;
  o["flows"] = provider_->flows();
  o["requests"] = st.requests;
  o["stored"] = st.stored;
  o["served"] = st.served;
  o["deleted"] = st.deleted;
  o["audits"] = st.audits;
  o["account"] = ledger::address_text(ledger::address_of(owner_.public_key()));
  o["receipts"] = st.receipts;
  o["collected"] = collected_;
  o["chunk_lists"] = provider_->chunk_lists();
  o["committed_shards"] = store.pins().size();
  o["chunk_pages"] = st.chunk_pages;
  if (claimer_) {
    o["claims_sent"] = claimer_->stats().sent;
    o["claims_refused"] = claimer_->stats().refused;
  }
  if (unpaid_) {
    const UnpaidStats& u = unpaid_->stats();
    o["unpaid"] = boost::json::object{{"escrows_paid", u.escrows_paid}, {"escrows_unpaid", u.escrows_unpaid},
                                      {"shards_dropped", u.shards_dropped}, {"shards_kept", u.shards_kept},
                                      {"no_ledger", u.no_ledger}};
  }
  boost::json::object rejected;
  for (const auto& [why, n] : st.rejected) rejected[why] = n;
  o["rejected"] = std::move(rejected);
  return o;
}

}  // namespace bc::storage

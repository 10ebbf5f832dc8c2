#include "apps/storage/net/storage_node.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>

#include "layers/ids.hpp"
#include "routing/dht.hpp"

namespace bc::storage {
namespace {
// placement.cpp's nearness_level uses the DHT's default cluster thresholds.
static_assert(routing::DhtConfig{}.level2_rtt_ms == 20 && routing::DhtConfig{}.level1_rtt_ms == 60);

sal::AppNodeConfig node_config(std::vector<Endpoint> bootstrap, const Endpoint& bind_ip) {
  sal::AppNodeConfig cfg;
  cfg.bootstrap = std::move(bootstrap);
  cfg.dht_listen = cfg.flow_listen = bind_ip;
  // A client run lasts seconds: it must not stay behind in the providers'
  // routing tables, or be chosen to hold their records, once it exits.
  cfg.dht.read_only = true;
  return cfg;
}

// Runs io until `done` or the deadline.
template <typename Pred>
bool run_until(boost::asio::io_context& io, TimeMs timeout_ms, Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done() && std::chrono::steady_clock::now() < deadline) io.run_one_until(deadline);
  return done();
}
}  // namespace

StorageNode::StorageNode(boost::asio::io_context& io, std::vector<Endpoint> bootstrap, Endpoint bind_ip)
    : io_(io), app_(io, KeyPair::generate(), node_config(std::move(bootstrap), bind_ip)) {}

StorageNode::~StorageNode() {
  app_.stop();
  io_.poll();  // handlers of closed flows and sockets complete
}

Status StorageNode::join(TimeMs timeout_ms) {
  if (!started_) {
    try {
      app_.start();
    } catch (const std::exception& e) {
      return fail(Error::kIo, e.what());
    }
    started_ = true;
  }
  // Shared: a late answer must not write into this frame.
  auto joined = std::make_shared<std::optional<bool>>();
  app_.when_joined(timeout_ms, [joined](bool ok) { *joined = ok; });
  run_until(io_, timeout_ms + 1000, [&] { return joined->has_value(); });
  if (joined->value_or(false)) return Status::success();
  return Status(make_error_code(Errc::kUnavailable), "no bootstrap node answered within " +
                                                          std::to_string(timeout_ms) + " ms");
}

Result<std::vector<ProviderAd>> StorageNode::providers(TimeMs timeout_ms) {
  auto found = std::make_shared<std::optional<std::vector<ProviderAd>>>();
  find_storage_providers(app_.stack(), [found](std::vector<ProviderAd> ads) { *found = std::move(ads); });
  if (!run_until(io_, timeout_ms, [&] { return found->has_value(); }))
    return Status(make_error_code(Errc::kUnavailable), "the storage directory lookup did not finish within " +
                                                           std::to_string(timeout_ms) + " ms");
  return std::move(**found);
}

std::vector<int> StorageNode::cluster_levels(const std::vector<ProviderAd>& ads) {
  std::map<NodeId, int> level;
  for (const auto& c : app_.stack().dht().contacts()) level[c.id] = c.level;
  std::vector<int> out;
  for (const auto& ad : ads) {
    auto it = level.find(node_id_of(ad.node));
    out.push_back(it == level.end() ? -1 : it->second);
  }
  return out;
}

std::unique_ptr<SalTransport> StorageNode::transport(std::vector<sal::ServiceId> providers,
                                                     SalTransportOptions options) {
  return std::make_unique<SalTransport>(io_, app_.host(), std::move(providers), options);
}

}  // namespace bc::storage

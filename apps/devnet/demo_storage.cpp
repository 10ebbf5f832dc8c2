#include "apps/devnet/demo_storage.hpp"

#include <chrono>
#include <iostream>
#include <map>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include "apps/common/http_client.hpp"
#include "apps/storage/net/storage_node.hpp"
#include "apps/storage/pipeline.hpp"
#include "layers/crypto.hpp"
#include "layers/ids.hpp"
#include "sal/records/service_id.hpp"

namespace bc::devnet {
namespace {
using Clock = std::chrono::steady_clock;

long long ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

// Which node serves each storage service (RPC storage_status).
std::map<sal::ServiceId, int> provider_nodes(const Devnet& net) {
  std::map<sal::ServiceId, int> out;
  for (const auto& n : net.nodes) {
    try {
      const auto st = node_rpc(n, "storage_status", {}, std::chrono::seconds(5));
      if (auto id = sal::parse_service_id(std::string(st.at("service").as_string())); id.ok()) out[*id] = n.index;
    } catch (const std::exception&) {
      // not a provider
    }
  }
  return out;
}

// Reads the directory until it lists every provider (they list themselves once joined), 15 s at most.
std::vector<storage::ProviderAd> listed_providers(storage::StorageNode& node, std::size_t expected) {
  std::vector<storage::ProviderAd> ads;
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  while (Clock::now() < deadline) {
    auto r = node.providers(5'000);
    if (r.ok()) ads = std::move(r).value();
    if (ads.size() >= expected) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  return ads;
}

// A recognisable text, then random bytes: 1 MiB in all.
Bytes demo_file() {
  const std::string text = "hello from blockcloud storage: encrypted on the client, spread over providers\n";
  Bytes b(text.begin(), text.end());
  Bytes rest(1024 * 1024 - b.size());
  random_bytes(rest);
  b.insert(b.end(), rest.begin(), rest.end());
  return b;
}

std::string shard_nodes(const std::vector<sal::ServiceId>& chosen, const std::map<sal::ServiceId, int>& nodes) {
  std::string s;
  for (const auto& id : chosen) {
    auto it = nodes.find(id);
    s += (s.empty() ? "" : ", ") + (it == nodes.end() ? std::string("?") : std::to_string(it->second));
  }
  return s;
}

// Puts `data` on `chosen` (k data + 2 parity shards) and reads it back; returns the failures.
int put_and_get(storage::StorageNode& node, const std::vector<sal::ServiceId>& chosen, const Bytes& data,
                const std::map<sal::ServiceId, int>& nodes) {
  storage::Key256 master{};
  random_bytes(master);  // the demo's own user; the key never leaves this process
  auto transport = node.transport(chosen);
  storage::StorageClient client(master, *transport);
  storage::PutOptions opts;
  opts.data_shards = static_cast<std::uint32_t>(chosen.size() - 2);
  opts.parity_shards = 2;
  opts.segment_size = 256 * 1024;
  opts.name = "hello.bin";
  opts.expires_at = sal::Host::now_ms() + 3'600'000;
  for (std::size_t j = 0; j < chosen.size(); ++j) opts.placement.push_back(j);
  std::size_t pos = 0;
  auto t0 = Clock::now();
  auto f = client.put([&](std::span<std::uint8_t> out) -> Result<std::size_t> {
    const std::size_t n = std::min(out.size(), data.size() - pos);
    std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(pos), n, out.begin());
    pos += n;
    return n;
  }, opts, sal::Host::now_ms());
  if (!f.ok()) return std::cout << "   put failed: " << f.status().message << "\n", 1;
  std::cout << fmt::format("   put {} KiB as {}\n      -> {} segments, {}+2 shards each, on nodes {} ({} ms)\n",
                           data.size() / 1024, id_to_text('f', f->cid), client.stats().segments, opts.data_shards,
                           shard_nodes(chosen, nodes), ms_since(t0));
  Bytes back;
  t0 = Clock::now();
  const Status s = client.get(*f, [&](ByteView d) {
    if (back.empty()) std::cout << fmt::format("      first plaintext byte after {} ms\n", ms_since(t0));
    back.insert(back.end(), d.begin(), d.end());
    return Status::success();
  });
  const bool same = s.ok() && back == data;
  std::cout << fmt::format("   got it back: {} ({} ms): \"{}\"\n", same ? "identical, every shard checked against its Merkle root" : "FAILED: " + s.message,
                           ms_since(t0), same ? std::string(back.begin(), back.begin() + 44) + "..." : "");
  return same ? 0 : 1;
}
}  // namespace

int demo_storage(const Devnet& net) {
  std::cout << "\n== 7. Storing a file: encrypted here, erasure-coded over storage providers reached by ID\n";
  const auto nodes = provider_nodes(net);
  if (nodes.size() < 3) return std::cout << "   fewer than 3 storage providers are running\n", 1;
  boost::asio::io_context io;
  storage::StorageNode node(io, {net.nodes[1].listen});
  if (auto s = node.join(10'000); !s.ok()) return std::cout << "   the client could not join: " << s.message << "\n", 1;
  const auto ads = listed_providers(node, nodes.size());
  std::cout << fmt::format("   the storage directory in the DHT lists {} of {} providers\n", ads.size(), nodes.size());
  if (ads.size() < 3) return 1;
  std::vector<sal::ServiceId> chosen;
  for (std::size_t i = 0; i < std::min<std::size_t>(ads.size(), 6); ++i) chosen.push_back(ads[i].service);
  return put_and_get(node, chosen, demo_file(), nodes);
}

}  // namespace bc::devnet

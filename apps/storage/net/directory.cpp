#include "apps/storage/net/directory.hpp"

#include <set>

#include "sal/records/service_id.hpp"

namespace bc::storage {
namespace {
constexpr std::uint8_t kAdVersion = 1;   // no cluster IDs
constexpr std::uint8_t kAdVersion2 = 2;  // with the level-1 and level-2 cluster IDs
constexpr std::uint8_t kAdVersion3 = 3;  // clusters (zero: unknown) and the owner's key

void put_be64(Bytes& b, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
std::uint64_t get_be64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
}  // namespace

routing::Key storage_directory_key() { return tagged_hash("blockcloud/storage/directory/v1", ByteView{}); }

Bytes encode_provider_ad(const ProviderAd& ad) {
  const bool owned = ad.owner.has_value();
  const bool clustered = owned || (ad.cluster1 && ad.cluster2);
  Bytes b;
  b.reserve(kProviderAdV3Bytes);
  b.push_back(owned ? kAdVersion3 : clustered ? kAdVersion2 : kAdVersion);
  b.insert(b.end(), ad.service.bytes.begin(), ad.service.bytes.end());
  put_be64(b, ad.capacity_bytes);
  put_be64(b, ad.free_bytes);
  put_be64(b, ad.price);
  if (clustered) {
    const Hash256 c1 = ad.cluster1.value_or(Hash256{}), c2 = ad.cluster2.value_or(Hash256{});
    b.insert(b.end(), c1.bytes.begin(), c1.bytes.end());
    b.insert(b.end(), c2.bytes.begin(), c2.bytes.end());
  }
  if (owned) b.insert(b.end(), ad.owner->bytes.begin(), ad.owner->bytes.end());
  return b;
}

std::optional<ProviderAd> decode_provider_ad(ByteView payload) {
  const bool v1 = payload.size() == kProviderAdBytes && payload[0] == kAdVersion;
  const bool v2 = payload.size() == kProviderAdV2Bytes && payload[0] == kAdVersion2;
  const bool v3 = payload.size() == kProviderAdV3Bytes && payload[0] == kAdVersion3;
  if (!v1 && !v2 && !v3) return std::nullopt;
  ProviderAd ad;
  std::copy_n(payload.data() + 1, 32, ad.service.bytes.begin());
  ad.capacity_bytes = get_be64(payload.data() + 33);
  ad.free_bytes = get_be64(payload.data() + 41);
  ad.price = get_be64(payload.data() + 49);
  if (ad.free_bytes > ad.capacity_bytes) return std::nullopt;
  if (v2 || v3) {
    ad.cluster1 = Hash256::from_bytes(payload.subspan(kProviderAdBytes, 32));
    ad.cluster2 = Hash256::from_bytes(payload.subspan(kProviderAdBytes + 32, 32));
  }
  if (v3) {
    // Version 3 spells an unknown cluster as zero; version 2 always knows both.
    if (ad.cluster1 && ad.cluster1->is_zero()) ad.cluster1.reset();
    if (ad.cluster2 && ad.cluster2->is_zero()) ad.cluster2.reset();
    ad.owner = parse_pubkey(payload.subspan(kProviderAdV2Bytes, 32));
    if (!ad.owner || sal::service_id_of(*ad.owner, kStorageServiceName) != ad.service) return std::nullopt;
  }
  return ad;
}

void find_storage_providers(sal::NodeStack& stack, std::function<void(std::vector<ProviderAd>)> done) {
  stack.driver().call([&](TimeMs now, Outbox& out) {
    auto on_values = [done = std::move(done)](const routing::GetResult& r) {
      std::vector<ProviderAd> ads;
      std::set<sal::ServiceId> seen;
      for (const auto& rec : r.values) {
        auto ad = decode_provider_ad(rec.payload);
        if (!ad || !seen.insert(ad->service).second) continue;
        ad->node = rec.owner;
        ads.push_back(*ad);
      }
      done(std::move(ads));
    };
    stack.dht().get(storage_directory_key(), now, out, std::move(on_values), routing::DhtNode::GetOptions{true});
  });
}

}  // namespace bc::storage

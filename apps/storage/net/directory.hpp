// The storage directory (docs/storage.md "Finding providers"): one
// well-known DHT key under which every storage provider node publishes a
// short advertisement, signed by its node key like any DHT record:
//
//   key     = tagged_hash("blockcloud/storage/directory/v1", "")
//   payload = 0x01 || service_id(32) || be64(capacity) || be64(free) || be64(price)   (57 bytes)
//          or 0x02 || the same || cluster1(32) || cluster2(32)                       (121 bytes)
//          or 0x03 || the same as 0x02 (a zero cluster: unknown) || owner(32)         (153 bytes)
//
// Version 3 adds the service owner's key: the provider's ledger account is
// address_of(owner), where clients open its escrows (docs/storage.md
// "Payment"). It is self-certifying: an advertisement whose owner does not
// name its service ID (service_id_of(owner, "storage")) does not decode, so
// no node can advertise another provider's service with its own account.
//
// Version 2 adds the Coral cluster IDs the provider's node is in at levels 1
// and 2, so a client can spread a file's shards over clusters (placement.hpp).
//
// A client reads the key with a fresh get (every level, newest record per
// owner) and connects to the service IDs through the SAL, which checks each
// provider's delegation: the advertisement only says where to look, never
// whom to trust. Prices are base units per GiB per day, as the operator set.
#pragma once
#include <functional>
#include <optional>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"
#include "routing/record.hpp"
#include "sal/node/node_stack.hpp"

namespace bc::storage {

inline constexpr std::size_t kProviderAdBytes = 57;
inline constexpr std::size_t kProviderAdV2Bytes = 121;
inline constexpr std::size_t kProviderAdV3Bytes = 153;
// The name every storage provider serves under (service_id_of(owner, name)).
inline constexpr const char* kStorageServiceName = "storage";

struct ProviderAd {
  sal::ServiceId service;
  std::uint64_t capacity_bytes = 0;
  std::uint64_t free_bytes = 0;
  std::uint64_t price = 0;  // base units per GiB per day
  // The provider node's Coral cluster IDs (levels 1 and 2); encoded (as
  // version 2) only when both are known.
  std::optional<Hash256> cluster1, cluster2;
  // The service owner's key (version 3): its account is paid. Encoded as
  // version 3 when set. REQUIRES when set: service == service_id_of(*owner, "storage").
  std::optional<XOnlyPubKey> owner;
  XOnlyPubKey node;         // who published it (the record's owner); not encoded
  friend bool operator==(const ProviderAd&, const ProviderAd&) = default;
};

routing::Key storage_directory_key();
Bytes encode_provider_ad(const ProviderAd& ad);
// nullopt for anything but kProviderAdBytes of version 1, kProviderAdV2Bytes
// of version 2, or kProviderAdV3Bytes of version 3 whose owner is a valid key
// that names the service ID.
std::optional<ProviderAd> decode_provider_ad(ByteView payload);

// Reads the directory through `stack`'s DHT (fresh get). `done` gets every
// decodable advertisement, one per service ID (the node's newest), on the
// io thread. Io thread only.
void find_storage_providers(sal::NodeStack& stack, std::function<void(std::vector<ProviderAd>)> done);

}  // namespace bc::storage

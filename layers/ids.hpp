// Node identifiers and the checksummed text form used for every 256-bit ID
// a person may type or read (node IDs now; service IDs and accounts later).
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"

namespace bc {

// A node's ID is the SHA-256 of its x-only public key, so an ID cannot be
// chosen freely and a node can prove it owns its ID by signing.
using NodeId = Hash256;
NodeId node_id_of(const XOnlyPubKey& key);

// Text form: one lowercase kind letter ('n' node, 's' service, 'a' account,
// 'k' DHT key) followed by base32 (RFC 4648 alphabet, lowercase, no padding)
// of the 32 bytes plus a 4-byte checksum (first bytes of
// tagged_hash("blockcloud/id-text", kind || bytes)). 59 characters: a valid
// DNS label, so "<id>.bc" works as a host name. A single mistyped character
// is always detected.
std::string id_to_text(char kind, const Hash256& id);
// nullopt if the kind letter differs, the length or alphabet is wrong, or the
// checksum fails. Accepts uppercase too.
std::optional<Hash256> id_from_text(char kind, std::string_view text);

}  // namespace bc

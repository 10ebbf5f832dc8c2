// Proof-of-Service messages <-> bytes, their signing digests and signatures.
//
// decode() is bounded (layers/wire/decode.hpp): it never throws on hostile
// input, never allocates beyond `limits`, and says why it refused with an
// Error (ledger/pos/errors.hpp) usable as a drop-counter label.
// Signatures are NOT checked by decode(); verify_* do that.
#pragma once
#include <cstddef>

#include "ledger/pos/types.hpp"
#include "layers/status.hpp"

namespace bc::pos {

struct PosLimits {
  std::size_t max_frame_bytes = 256u << 10;
  std::size_t max_probe_request_bytes = 4096;
  std::size_t max_probes = 256;
  std::size_t max_evidence = 16;
  std::size_t max_leaf_bytes = kStorageLeafSize;
  std::size_t max_path = 48;
};

Bytes encode(const Message& m);
Result<Message> decode(ByteView frame, const PosLimits& limits);

// tagged_hash("blockcloud/pos-offer-id/v1", provider || service_id || nonce).
Hash256 offer_id(const Offer& o);

// tagged_hash(tag, canonical form with the signature null).
Hash256 offer_digest(const Offer& o);
Hash256 report_digest(const Report& r);
Hash256 storage_answer_digest(const StorageAnswer& a);

void sign_offer(Offer& o, const KeyPair& owner);       // sets owner and signature
void sign_report(Report& r, const KeyPair& auditor);   // sets auditor and signature
void sign_storage_answer(StorageAnswer& a, const KeyPair& provider);  // sets provider_signature

Status verify_offer(const Offer& o);
Status verify_report(const Report& r);
bool verify_storage_answer(const StorageAnswer& a, const XOnlyPubKey& provider);

}  // namespace bc::pos

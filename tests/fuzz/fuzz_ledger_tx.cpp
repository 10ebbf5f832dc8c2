// libFuzzer target: hostile bytes -> decode_tx -> context-free checks.
//
// A decoded tx must re-encode to bytes that decode to the same tx (same
// canonical body, so the same digest and ID), respect every bound, and the
// checks must return a reason without crashing. Signatures are checked too:
// a fuzzer cannot forge one, so verification must fail or the tx must be
// a real signed one.
#include <cstddef>
#include <cstdint>

#include "ledger/pos/codec.hpp"
#include "ledger/tx.hpp"

using namespace bc;
using namespace bc::ledger;

namespace {
void require(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ChainParams params;
  auto tx = decode_tx(ByteView(data, size), params);
  if (!tx.ok()) {
    require(tx.status().code.category() == ledger_category() && !tx.status().message.empty());
    return 0;
  }
  require(size <= params.max_tx_bytes);
  require(tx->body_bytes.size() % 8 == 0);
  if (auto* c = std::get_if<EscrowClaim>(&tx->body.payload)) require(c->receipts.size() <= params.max_receipts);
  if (auto* r = std::get_if<RegisterService>(&tx->body.payload)) require(r->name.size() <= kMaxServiceName);
  if (auto* o = std::get_if<PosOffer>(&tx->body.payload)) require(o->offer.probe_request.size() <= pos::PosLimits{}.max_probe_request_bytes);
  if (auto* r = std::get_if<PosReport>(&tx->body.payload))
    require(r->report.probes.size() <= pos::PosLimits{}.max_probes && r->report.evidence.size() <= pos::PosLimits{}.max_evidence);

  auto again = decode_tx(encode_tx(*tx), params);
  require(again.ok());
  require(again->id == tx->id && again->digest == tx->digest && again->body_bytes == tx->body_bytes);

  // A re-signed body carries every field: the escrow's roots commitment survives its encoder.
  if (auto* e = std::get_if<EscrowOpen>(&tx->body.payload)) {
    static const std::uint8_t kSecret[32] = {1};
    static const KeyPair key = *KeyPair::from_secret(ByteView(kSecret, 32));
    TxBody body = tx->body;
    body.sender = key.public_key();
    auto resigned = decode_tx(encode_tx(sign_tx(body, key)), params);
    require(resigned.ok() && std::get<EscrowOpen>(resigned->body.payload).roots_commitment == e->roots_commitment);
  }

  Status s = check_tx_context_free(*tx, params);
  require(s.ok() || !s.message.empty());
  (void)verify_tx_signature(*tx);
  require(s.ok() || s.code.category() == ledger_category());
  return 0;
}

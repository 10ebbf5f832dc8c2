// Transaction encoding, signing and context-free checks.
#include <capnp/message.h>
#include <capnp/serialize.h>

#include "layers/ids.hpp"
#include "ledger/block.hpp"
#include "ledger/wire/ledger.capnp.h"
#include "ledger_fixture.hpp"

using namespace bc;
using namespace bc::ledger;

namespace {

ChainParams params() { return ChainParams{}; }

TxBody body_with(TxPayload p, const KeyPair& k, Amount fee = 5) {
  TxBody b;
  b.chain_id = params().chain_id;
  b.sender = k.public_key();
  b.nonce = 3;
  b.fee = fee;
  b.payload = std::move(p);
  return b;
}

}  // namespace

TEST_CASE("every transaction kind round-trips through its wire form") {
  KeyPair k = test_key(1, 0);
  Hash256 eid = escrow_id_of(address_of(k.public_key()), 9);
  std::vector<TxPayload> payloads = {
      Transfer{address_of(test_key(1, 1).public_key()), 42},
      Bond{7},
      Unbond{6},
      RegisterService{"storage.eu"},
      EscrowOpen{address_of(test_key(1, 2).public_key()), 100, 50},
      EscrowTopUp{eid, 10, 60},
      EscrowClaim{eid, {sign_receipt(k, "blockcloud-devnet", eid, 5), sign_receipt(k, "blockcloud-devnet", eid, 9)}},
      EscrowClose{eid},
  };
  for (const auto& p : payloads) {
    CAPTURE(payload_name(p));
    Tx tx = sign_tx(body_with(p, k), k);
    CHECK(verify_tx_signature(tx));
    CHECK(check_tx_context_free(tx, params()).ok());
    Bytes wire = encode_tx(tx);
    CHECK(wire.size() == tx.wire_size);
    auto back = decode_tx(wire, params());
    REQUIRE_MESSAGE(back.ok(), back.status().text());
    CHECK(back->id == tx.id);
    CHECK(back->digest == tx.digest);
    CHECK(back->body_bytes == tx.body_bytes);
    CHECK(back->sender == address_of(k.public_key()));
    CHECK(back->body.payload.index() == p.index());
    CHECK(back->body.nonce == 3);
    CHECK(back->body.fee == 5);
    CHECK(verify_tx_signature(*back));
  }
}

TEST_CASE("a flipped signature bit or a changed body fails verification") {
  KeyPair k = test_key(1, 0);
  Tx tx = sign_tx(body_with(Bond{7}, k), k);
  Tx bad = tx;
  bad.signature.bytes[10] ^= 1;
  CHECK_FALSE(verify_tx_signature(bad));
  Tx other = sign_tx(body_with(Bond{8}, k), k);
  bad = tx;
  bad.digest = other.digest;  // signature of one body presented with another
  CHECK_FALSE(verify_tx_signature(bad));
  // Another key's signature.
  KeyPair k2 = test_key(1, 1);
  bad = tx;
  bad.signature = k2.sign(tx.digest);
  CHECK_FALSE(verify_tx_signature(bad));
}

TEST_CASE("decode rejects malformed, oversized and non-canonical input with a reason") {
  KeyPair k = test_key(1, 0);
  Tx tx = sign_tx(body_with(Transfer{Hash256{}, 1}, k), k);
  Bytes wire = encode_tx(tx);
  CHECK(decode_tx(Bytes{}, params()).status().code == Error::kMalformed);
  Bytes truncated(wire.begin(), wire.end() - 8);
  CHECK(decode_tx(truncated, params()).status().code == Error::kMalformed);
  Bytes garbage(64, 0xff);
  CHECK(!decode_tx(garbage, params()).ok());
  ChainParams small = params();
  small.max_tx_bytes = 64;
  CHECK(decode_tx(wire, small).status().code == Error::kOversized);

  // A body that is valid Cap'n Proto but not canonical (fields allocated out
  // of pointer order) is refused: its digest would not be unique.
  capnp::MallocMessageBuilder bm;
  auto b = bm.initRoot<wire::TxBody>();
  b.setSender(kj::arrayPtr(k.public_key().bytes.data(), 32));
  b.setChainId("blockcloud-devnet");
  b.setNonce(0);
  b.setFee(0);
  b.initBond().setAmount(1);
  auto segs = bm.getSegmentsForOutput();
  REQUIRE(segs.size() == 1);
  auto seg = segs[0].asBytes();
  Bytes noncanon(seg.begin(), seg.end());
  auto r = decode_tx_parts(noncanon, tx.signature, 200, params());
  CHECK(r.status().code == Error::kNotCanonical);

  // Wrong signature length.
  capnp::MallocMessageBuilder sm;
  auto st = sm.initRoot<wire::SignedTx>();
  st.setBody(kj::arrayPtr(tx.body_bytes.data(), tx.body_bytes.size()));
  std::uint8_t short_sig[10] = {};
  st.setSignature(kj::arrayPtr(short_sig, 10));
  auto flat = capnp::messageToFlatArray(sm);
  Bytes bad_sig(flat.asBytes().begin(), flat.asBytes().end());
  auto rs = decode_tx(bad_sig, params());
  CHECK(rs.status().code == Error::kMalformed);
  CHECK(rs.status().message.find("64 bytes") != std::string::npos);
}

TEST_CASE("text fields with a NUL byte are refused (found by fuzz_ledger_block)") {
  KeyPair k = test_key(1, 0);
  TxBody b = body_with(RegisterService{std::string("ab\0cd", 5)}, k);
  Tx tx = sign_tx(b, k);
  auto r = decode_tx(encode_tx(tx), params());
  CHECK(r.status().code == Error::kBadServiceName);
  b = body_with(Bond{1}, k);
  b.chain_id = std::string("blockcloud-devnet\0x", 19);
  r = decode_tx(encode_tx(sign_tx(b, k)), params());
  CHECK(r.status().code == Error::kMalformed);
  // A header chain id with a NUL does not decode (it would not re-encode the same).
  Block blk;
  blk.header.chain_id = std::string("blockcloud-devn\0X", 17);
  auto d = decode_block(encode_block(blk), params());
  CHECK(d.status().code == Error::kMalformed);
}

namespace {
// A canonical signed EscrowOpen whose rootsCommitment field holds `roots` bytes.
Bytes escrow_open_with_commitment(const KeyPair& k, const Bytes& roots) {
  capnp::MallocMessageBuilder bm;
  auto b = bm.initRoot<wire::TxBody>();
  b.setChainId("blockcloud-devnet");
  b.setSender(kj::arrayPtr(k.public_key().bytes.data(), 32));
  auto e = b.initEscrowOpen();
  const Address provider = address_of(test_key(1, 2).public_key());
  e.setProvider(kj::arrayPtr(provider.bytes.data(), 32));
  e.setAmount(10);
  e.setExpiresAt(50);
  e.setRootsCommitment(kj::arrayPtr(roots.data(), roots.size()));
  kj::Array<capnp::word> words = bm.getRoot<capnp::AnyStruct>().asReader().canonicalize();
  auto bytes = words.asBytes();
  capnp::MallocMessageBuilder sm;
  auto st = sm.initRoot<wire::SignedTx>();
  st.setBody(bytes);
  std::uint8_t sig[64] = {};
  st.setSignature(kj::arrayPtr(sig, 64));
  auto flat = capnp::messageToFlatArray(sm);
  return Bytes(flat.asBytes().begin(), flat.asBytes().end());
}
}  // namespace

TEST_CASE("an escrow's roots commitment round-trips; a zero or short one does not decode") {
  KeyPair k = test_key(1, 0);
  const Address provider = address_of(test_key(1, 2).public_key());
  for (const Hash256& roots : {Hash256{}, sha256(ByteView(provider.view()))}) {
    auto back = decode_tx(encode_tx(sign_tx(body_with(EscrowOpen{provider, 10, 50, roots}, k), k)), params());
    REQUIRE(back.ok());
    CHECK(std::get<EscrowOpen>(back->body.payload).roots_commitment == roots);
  }
  // The commitment is signed: another commitment is another body and digest.
  CHECK(sign_tx(body_with(EscrowOpen{provider, 10, 50, sha256(ByteView(provider.view()))}, k), k).digest !=
        sign_tx(body_with(EscrowOpen{provider, 10, 50}, k), k).digest);
  CHECK(decode_tx(escrow_open_with_commitment(k, Bytes(32, 0)), params()).status().code == Error::kMalformed);
  CHECK(decode_tx(escrow_open_with_commitment(k, Bytes(31, 7)), params()).status().code == Error::kMalformed);
  CHECK(decode_tx(escrow_open_with_commitment(k, Bytes(32, 7)), params()).ok());
}

TEST_CASE("too many receipts are rejected at decode") {
  KeyPair k = test_key(1, 0);
  Hash256 eid{};
  EscrowClaim c{eid, {}};
  for (int i = 1; i <= 17; ++i) c.receipts.push_back(UsageReceipt{eid, static_cast<Amount>(i), Signature{}});
  ChainParams p = params();
  p.max_tx_bytes = 1 << 16;
  Tx tx = sign_tx(body_with(c, k), k);
  auto r = decode_tx(encode_tx(tx), p);
  CHECK(r.status().code == Error::kOversized);
  CHECK(check_tx_context_free(tx, p).code == Error::kOversized);
}

TEST_CASE("context-free checks: chain id, fee, zero amounts, service names, empty claims") {
  KeyPair k = test_key(1, 0);
  ChainParams p = params();
  p.min_fee = 2;
  auto check = [&](TxBody b) { return check_tx_context_free(sign_tx(std::move(b), k), p).code; };
  TxBody b = body_with(Bond{1}, k);
  CHECK(!check(b));
  b.chain_id = "other-net";
  CHECK(check(b) == Error::kWrongChain);
  CHECK(check(body_with(Bond{1}, k, 1)) == Error::kFeeTooLow);
  CHECK(check(body_with(Transfer{Hash256{}, 0}, k)) == Error::kZeroAmount);
  CHECK(check(body_with(Bond{0}, k)) == Error::kZeroAmount);
  CHECK(check(body_with(Unbond{0}, k)) == Error::kZeroAmount);
  CHECK(check(body_with(EscrowOpen{Hash256{}, 0, 5}, k)) == Error::kZeroAmount);
  CHECK(check(body_with(EscrowTopUp{Hash256{}, 0, 0}, k)) == Error::kZeroAmount);
  CHECK(!check(body_with(EscrowTopUp{Hash256{}, 0, 9}, k)));
  CHECK(check(body_with(RegisterService{""}, k)) == Error::kBadServiceName);
  CHECK(check(body_with(RegisterService{std::string(65, 'x')}, k)) == Error::kBadServiceName);
  CHECK(check(body_with(EscrowClaim{Hash256{}, {}}, k)) == Error::kBadReceipt);
}

TEST_CASE("IDs: address text form, deterministic escrow and service IDs") {
  KeyPair k = test_key(1, 0);
  Address a = address_of(k.public_key());
  std::string text = address_text(a);
  CHECK(text.size() == 59);
  CHECK(text[0] == 'a');
  CHECK(id_from_text('a', text) == a);
  CHECK(escrow_id_of(a, 1) == escrow_id_of(a, 1));
  CHECK(escrow_id_of(a, 1) != escrow_id_of(a, 2));
  CHECK(service_id_of(k.public_key(), "x") != service_id_of(k.public_key(), "y"));
  CHECK(service_id_of(k.public_key(), "x") != service_id_of(test_key(1, 1).public_key(), "x"));
  // Receipts are bound to the chain.
  Hash256 e{};
  CHECK(receipt_digest("a", e, 5) != receipt_digest("b", e, 5));
}

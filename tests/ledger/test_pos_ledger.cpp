// Proof-of-Service on the ledger (docs/proof-of-service.md, "Ledger rules"):
// offers lock a bond from the owner's balance, withdrawals return it after
// the unbonding delay, and the supply invariant counts offer bonds.
#include <doctest/doctest.h>

#include <tuple>

#include "ledger/pos/codec.hpp"
#include "ledger/pos/storage_proof.hpp"
#include "ledger/pos_ledger.hpp"
#include "ledger/validators.hpp"
#include "ledger_fixture.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

namespace {

pos::Offer make_offer(const Chain& c, std::size_t owner, Amount bond, std::uint64_t nonce = 1) {
  pos::Offer o;
  o.service_id = service_id_of(c.key(owner).public_key(), "web");
  o.provider = c.key(owner + 1).public_key();
  o.probe_request = Bytes{'G', 'E', 'T', ' ', '/'};
  o.expected_response_hash = sha256(as_bytes("HTTP/1.1 200 OK"));
  o.delta_bps = 9500;
  o.max_latency_ms = 500;
  o.price = 10;
  o.bond = bond;
  o.nonce = nonce;
  pos::sign_offer(o, c.key(owner));
  return o;
}

void expect_supply(const Chain& c) { CHECK_MESSAGE(check_supply(c.ledger->state()).empty(), check_supply(c.ledger->state())); }

}  // namespace

TEST_CASE("pos offer: locks the bond from the owner's balance, once, for a service it registered") {
  Chain c;
  const pos::Offer o = make_offer(c, 0, 5000);
  CHECK(c.include(c.tx(0, PosOffer{o})).code == Error::kUnknownService);  // register the service first
  REQUIRE(c.include(c.tx(0, RegisterService{"web"})).ok());
  const Amount before = c.acct(0).balance;
  REQUIRE(c.include(c.tx(0, PosOffer{o})).ok());
  CHECK(c.acct(0).balance == before - 5000 - 1);
  const ProviderOffer* e = c.ledger->state().offer(pos::offer_id(o));
  REQUIRE(e != nullptr);
  CHECK(e->bond == 5000);
  CHECK(e->status == ProviderOffer::Status::kActive);
  CHECK(e->account == c.addr(0));
  CHECK(e->provider == o.provider);
  CHECK(e->reputation_bps == 10000);
  auto stored = pos::decode(e->offer, pos::PosLimits{});
  REQUIRE(stored.ok());
  CHECK(std::get<pos::Offer>(*stored) == o);
  expect_supply(c);

  CHECK(c.include(c.tx(0, PosOffer{o})).code == Error::kOfferExists);
  // Another account cannot send (and lock a bond for) an offer it does not own.
  CHECK(c.include(c.tx(1, PosOffer{make_offer(c, 0, 5000, 2)})).code == Error::kNotOfferOwner);
  // More bond than the balance holds.
  CHECK(c.include(c.tx(0, PosOffer{make_offer(c, 0, 2'000'000, 3)})).code == Error::kInsufficientFunds);
  expect_supply(c);
}

TEST_CASE("pos offer: field rules and the owner signature are checked before any state") {
  Chain c;
  REQUIRE(c.include(c.tx(0, RegisterService{"web"})).ok());
  pos::Offer low_delta = make_offer(c, 0, 100);
  low_delta.delta_bps = 4000;
  pos::sign_offer(low_delta, c.key(0));
  CHECK(check_offer_fields(low_delta).code == Error::kBadOffer);
  CHECK(c.include(c.tx(0, PosOffer{low_delta})).code == Error::kBadOffer);
  pos::Offer zero = make_offer(c, 0, 0);
  CHECK(c.include(c.tx(0, PosOffer{zero})).code == Error::kZeroAmount);
  pos::Offer forged = make_offer(c, 0, 100);
  forged.price = 1;  // changed after signing
  CHECK(c.include(c.tx(0, PosOffer{forged})).code == Error::kBadOffer);
  pos::Offer no_probe = make_offer(c, 0, 100);
  no_probe.probe_request.clear();
  pos::sign_offer(no_probe, c.key(0));
  CHECK(check_offer_fields(no_probe).code == Error::kBadOffer);
  // A storage offer commits to 1..kMaxOfferChunks chunks and bounds its latency.
  pos::Offer storage = make_offer(c, 0, 100);
  storage.kind = pos::ServiceKind::kStorage;
  using Case = std::tuple<std::uint64_t, std::uint32_t, bool>;  // chunks, max latency, accepted
  for (auto [chunks, latency, ok] : {Case{1, 200, true}, Case{pos::kMaxOfferChunks, 200, true}, Case{0, 200, false},
                                     Case{pos::kMaxOfferChunks + 1, 200, false}, Case{4, 0, false}}) {
    storage.storage_chunks = chunks;
    storage.max_latency_ms = latency;
    pos::sign_offer(storage, c.key(0));
    CAPTURE(chunks);
    CHECK(check_offer_fields(storage).ok() == ok);
  }
  CHECK(c.ledger->state().offers().empty());
}

TEST_CASE("pos offer and withdraw round-trip through the wire; a bad embedded frame is refused") {
  Chain c;
  const Tx t = c.tx(0, PosOffer{make_offer(c, 0, 700)});
  auto back = decode_tx(encode_tx(t), c.ledger->params());
  REQUIRE_MESSAGE(back.ok(), back.status().text());
  CHECK(back->id == t.id);
  CHECK(std::get<PosOffer>(back->body.payload).offer == std::get<PosOffer>(t.body.payload).offer);
  CHECK(std::string(payload_name(back->body.payload)) == "pos_offer");
  const Tx w = c.tx(0, PosWithdraw{sha256(as_bytes("x"))});
  auto wb = decode_tx(encode_tx(w), c.ledger->params());
  REQUIRE(wb.ok());
  CHECK(std::get<PosWithdraw>(wb->body.payload).offer_id == sha256(as_bytes("x")));

}

TEST_CASE("pos withdraw: only the owner, once; the bond comes back after its epoch's settlement") {
  Chain c;  // unbonding_delay = 3
  REQUIRE(c.include(c.tx(0, RegisterService{"web"})).ok());
  const pos::Offer o = make_offer(c, 0, 5000);
  const Hash256 id = pos::offer_id(o);
  REQUIRE(c.include(c.tx(0, PosOffer{o})).ok());
  CHECK(c.include(c.tx(1, PosWithdraw{id})).code == Error::kNotOfferOwner);
  CHECK(c.include(c.tx(0, PosWithdraw{sha256(as_bytes("none"))})).code == Error::kUnknownOffer);
  REQUIRE(c.include(c.tx(0, PosWithdraw{id})).ok());
  const std::uint64_t at = c.ledger->head().height;
  const ProviderOffer* e = c.ledger->state().offer(id);
  REQUIRE(e != nullptr);
  CHECK(e->status == ProviderOffer::Status::kWithdrawn);
  CHECK(e->bond == 0);
  CHECK(c.ledger->state().unbonding(e->unbonding)->amount == 5000);
  CHECK(c.include(c.tx(0, PosWithdraw{id})).code == Error::kOfferNotActive);
  // Slashable until the settlement of its epoch, in the first block of epoch + 2.
  const std::uint64_t release = first_height_of(epoch_of(at, c.ledger->params()) + 2, c.ledger->params()) + 1;
  CHECK(c.ledger->state().unbonding(e->unbonding)->release_height == std::max(at + 3, release));
  const Amount before = c.acct(0).balance;
  while (c.ledger->head().height < std::max(at + 3, release)) {
    expect_supply(c);
    REQUIRE(c.include(std::vector<Tx>{}).ok());
  }
  CHECK(c.acct(0).balance == before + 5000);
  expect_supply(c);
}

TEST_CASE("pos offers survive a restart: the entry is stored and rebuilt") {
  Chain c;
  REQUIRE(c.include(c.tx(0, RegisterService{"web"})).ok());
  const pos::Offer o = make_offer(c, 0, 900);
  REQUIRE(c.include(c.tx(0, PosOffer{o})).ok());
  const Hash256 root = c.ledger->head().state_root;
  c.reopen();
  CHECK(c.ledger->computed_root() == root);
  REQUIRE(c.ledger->state().offer(pos::offer_id(o)) != nullptr);
  CHECK(c.ledger->state().offer(pos::offer_id(o))->bond == 900);
  expect_supply(c);
}

TEST_CASE("offer entry encoding round-trips and refuses bad bytes") {
  ProviderOffer o;
  o.account = sha256(as_bytes("a"));
  o.bond = 42;
  o.status = ProviderOffer::Status::kBanned;
  o.registered_at = 7;
  o.reputation_bps = 9000;
  o.offer = Bytes{1, 2, 3};
  const Bytes enc = encode_offer(o);
  auto back = decode_offer(enc);
  REQUIRE(back.has_value());
  CHECK(*back == o);
  Bytes bad = enc;
  bad.pop_back();
  CHECK(!decode_offer(bad).has_value());
  bad = enc;
  bad[1 + 4 * 32 + 8] = 9;  // status
  CHECK(!decode_offer(bad).has_value());
}

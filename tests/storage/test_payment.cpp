// Paying providers (apps/storage/payment.hpp): escrow amounts and their
// commitments, receipts due over time and after a failed audit, escrows
// journaled before any shard so a resumed put reuses them, and receipts
// delivered to a provider that keeps the highest per escrow, and when an
// expired escrow is closed.
#include <doctest/doctest.h>

#include "apps/storage/payment.hpp"
#include "layers/crypto.hpp"
#include "tests/storage/pipeline_fixture.hpp"

using namespace bc;
using namespace bc::storage;
using namespace bc::storage::test;

namespace {
constexpr TimeMs kDay = 86'400'000;
constexpr std::uint64_t kMiB = 1u << 20, kGiB = 1u << 30;

PutJournal open_journal(const std::filesystem::path& p) {
  auto j = PutJournal::open(p);
  REQUIRE_MESSAGE(j.ok(), j.status().text());
  return std::move(j).value();
}

Hash256 addr(int i) { return sha256(as_bytes("account " + std::to_string(i))); }
}  // namespace

TEST_CASE("payment: an escrow is price x size x time, rounded up; free or empty is 0; past 2^64 is an error") {
  CHECK(*escrow_amount(1000, kGiB, kDay) == 1000);
  CHECK(*escrow_amount(1000, kGiB, 30 * kDay) == 30'000);
  CHECK(*escrow_amount(1024, kMiB, kDay) == 1);        // 1/1024 GiB-day at 1024
  CHECK(*escrow_amount(1, kMiB, kDay) == 1);           // a fraction of a unit is charged as one
  CHECK(*escrow_amount(1'000'000, 3 * kMiB, kDay / 2) == 1465);  // ceil(1e6 * 3/1024 / 2)
  CHECK(*escrow_amount(0, kGiB, kDay) == 0);
  CHECK(*escrow_amount(5, 0, kDay) == 0);
  CHECK(*escrow_amount(5, kGiB, 0) == 0);
  CHECK_FALSE(escrow_amount(UINT64_MAX, UINT64_MAX, 3650 * kDay).ok());
}

TEST_CASE("payment: shard bytes sum every segment's shard; the roots commitment names one shard index's roots") {
  const Shape shape{3 * kSegment + 100, kSegment, 4, 2};
  CHECK(shard_bytes(shape) == 3 * shape.shard_size(0) + shape.shard_size(3));
  Manifest m;
  m.shape = shape;
  m.shard_roots.assign(shape.segment_count() * shape.total_shards() * 32, 0);
  for (std::size_t i = 0; i < m.shard_roots.size(); ++i) m.shard_roots[i] = static_cast<std::uint8_t>(i * 31);
  const Hash256 c0 = roots_commitment(m, 0), c1 = roots_commitment(m, 1);
  CHECK(c0 != c1);
  CHECK(roots_commitment(m, 0) == c0);
  m.set_root(2, 1, sha256(as_bytes("another shard")));
  CHECK(roots_commitment(m, 0) == c0);  // shard 1's root changed, not shard 0's
  CHECK(roots_commitment(m, 1) != c1);
}

TEST_CASE("payment: receipts pay pro rata, never past the escrow, and nothing after a failed audit") {
  ProviderEscrow e{0, addr(9), 7, addr(1), 1000, 0};
  CHECK(earned_by(1000, 100, 1100, 50) == 0);
  CHECK(earned_by(1000, 100, 1100, 600) == 500);
  CHECK(earned_by(1000, 100, 1100, 5000) == 1000);
  CHECK(receipt_due(e, 100, 1100, 350, true) == 250);
  CHECK(receipt_due(e, 100, 1100, 350, false) == 0);  // failed: not paid
  e.paid = 250;
  CHECK(receipt_due(e, 100, 1100, 350, true) == 0);   // nothing new
  CHECK(receipt_due(e, 100, 1100, 2000, true) == 1000);
  // Expiry height: the period and the grace in blocks, after the head.
  CHECK(escrow_expiry_height(10, kDay, 1000) == 10 + (kDay + kPaymentGraceMs) / 1000 + 1);
}

TEST_CASE("payment: a holding is paid only by its own escrow to this provider, covering its bytes and period") {
  const Hash256 me = sha256(Bytes{1}), other = sha256(Bytes{2});
  constexpr TimeMs kDay = 24LL * 3600 * 1000;
  Holding h{sha256(Bytes{3}), 3ull << 30, 1'000, 1'000 + 2 * kDay, 5, {}};
  const Amount due = *escrow_amount(5, 3ull << 30, 2 * kDay);  // 3 GiB x 2 days x 5 = 30
  CHECK(due == 30);
  CHECK(escrow_pays_for(h, EscrowOnChain{me, due}, me));
  CHECK(escrow_pays_for(h, EscrowOnChain{me, due * 99 / 100 + 1}, me));  // within the 1 % for skew and rounding
  CHECK_FALSE(escrow_pays_for(h, EscrowOnChain{me, due / 2}, me));      // a small escrow does not cover more bytes
  CHECK_FALSE(escrow_pays_for(h, EscrowOnChain{other, due}, me));       // pays someone else
  CHECK_FALSE(escrow_pays_for(h, std::nullopt, me));                    // never opened, or closed
  h.escrow = Hash256{};
  CHECK_FALSE(escrow_pays_for(h, EscrowOnChain{me, due}, me));          // the puts named none
}

TEST_CASE("payment: escrows take consecutive nonces, skip free providers, and are named by client and nonce") {
  const auto client = addr(0);
  const auto escrows = plan_escrows(client, 40, {addr(1), addr(2), addr(3)}, {10, 0, 30});
  REQUIRE(escrows.size() == 2);
  CHECK(escrows[0].shard == 0);
  CHECK(escrows[0].nonce == 40);
  CHECK(escrows[1].shard == 2);
  CHECK(escrows[1].nonce == 41);
  CHECK(escrows[1].id == ledger::escrow_id_of(client, 41));
  CHECK(escrows[1].provider == addr(3));
  CHECK(escrows[1].amount == 30);
}

TEST_CASE("payment: escrows are journaled before the first shard, and a resumed put keeps them (never a second set)") {
  Net n(6);
  TempDir tmp;
  const auto path = tmp.path() / "put.journal";
  const Bytes data = test_bytes(4 * kSegment + 99, 5);
  const auto planned = plan_escrows(addr(0), 3, {addr(1), addr(2), addr(3), addr(4), addr(5), addr(6)}, {5, 5, 5, 5, 5, 5});
  int recorded = 0;
  PutOptions opts = options();
  opts.on_journal_begun = [&](PutJournal& j) {
    ++recorded;
    CHECK(j.segments().empty());  // before any shard was sent
    return j.record_escrows(planned);
  };
  {
    StorageClient client(master_key(), *n.net);
    PutJournal journal = open_journal(path);
    n.net->set_down(3, true);  // the put fails after the escrows were journaled
    REQUIRE_FALSE(client.put(source_of(data), opts, n.net->now(), &journal).ok());
    n.net->set_down(3, false);
  }
  CHECK(recorded == 1);
  PutJournal journal = open_journal(path);
  REQUIRE(journal.escrows().has_value());
  CHECK(*journal.escrows() == planned);
  StorageClient client(master_key(), *n.net);
  auto f = client.put(source_of(data), opts, n.net->now(), &journal);
  REQUIRE_MESSAGE(f.ok(), f.status().text());
  CHECK(recorded == 1);  // the resume did not plan new escrows
  CHECK(*journal.escrows() == planned);
}

TEST_CASE("payment: the escrows record is read only right after the header; elsewhere the journal is refused") {
  const PutJournalHeader h{{}, kSegment, 4, 2, 1000, "f", {0, 1, 2, 3, 4, 5}};
  const auto escrows = plan_escrows(addr(0), 0, {addr(1), addr(2), addr(3), addr(4), addr(5), addr(6)}, {1, 2, 3, 4, 5, 6});
  const Bytes head = encode_put_journal_record(h), esc = encode_put_journal_record(escrows),
              seg = encode_put_journal_record(PutJournalSegment{kSegment, Hash256{}, Bytes(6 * 32, 1)});
  auto cat = [](std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
  };
  auto good = parse_put_journal(cat({head, esc, seg}), "j");
  REQUIRE(good.ok());
  REQUIRE(good->escrows.has_value());
  CHECK(*good->escrows == escrows);
  CHECK(good->segments.size() == 1);
  CHECK_FALSE(parse_put_journal(cat({head, seg, esc}), "j").ok());  // escrows after a shard was sent
  CHECK_FALSE(parse_put_journal(cat({head, esc, esc}), "j").ok());  // two sets
  CHECK_FALSE(parse_put_journal(cat({esc}), "j").ok());             // no header
}

TEST_CASE("payment: receipts reach the provider, which keeps the highest per escrow for its claim") {
  Net n(2);
  const KeyPair client = KeyPair::generate();
  const Hash256 e0 = ledger::escrow_id_of(addr(0), 1), e1 = ledger::escrow_id_of(addr(0), 2);
  auto receipt = [&](const Hash256& id, ledger::Amount amount) {
    return ReceiptRequest{id, amount, ledger::sign_receipt(client, "blockcloud-devnet", id, amount).signature};
  };
  const auto taken = deliver_receipts(*n.net, {{0, receipt(e0, 10)}, {0, receipt(e0, 25)}, {1, receipt(e1, 7)}}, 100);
  CHECK(taken == std::vector<bool>{true, true, true});
  auto at0 = n.net->provider(0).core().take_receipts();
  REQUIRE(at0.size() == 1);
  CHECK(at0[0].escrow_id == e0);
  CHECK(at0[0].cumulative == 25);
  CHECK(bc::verify(client.public_key(), ledger::receipt_digest("blockcloud-devnet", e0, 25), at0[0].signature));
  CHECK(n.net->provider(0).core().take_receipts().empty());  // taken once
  CHECK(n.net->provider(1).core().take_receipts().size() == 1);
  // A provider that is down takes nothing; the client keeps what it paid.
  n.net->set_down(1, true);
  CHECK(deliver_receipts(*n.net, {{1, receipt(e1, 9)}}, 200) == std::vector<bool>{false});
  // A receipt for nothing does not decode: the provider refuses it.
  CHECK_FALSE(decode_request(encode_request({1, ReceiptRequest{e0, 0, Signature{}}})).status.ok());
}

TEST_CASE("payment: the client may close from the block at the expiry height; a tx sent at head lands in head + 1") {
  CHECK_FALSE(client_may_close(98, 100));
  CHECK(client_may_close(99, 100));
  CHECK(client_may_close(100, 100));
  CHECK(client_may_close(5000, 100));
  CHECK(client_may_close(0, 0));
}

TEST_CASE("payment: storage pay closes an expired escrow once its provider claimed what it took, or after a wait") {
  const ProviderEscrow e{0, addr(9), 7, addr(1), 1000, 600};
  const auto step = [&e](const EscrowState* chain, std::uint64_t head, bool sent_now, bool waited) {
    return close_step(e, {chain, head, 8, sent_now, waited});
  };
  const EscrowState open{1000, 600, 200};
  CHECK(step(nullptr, 500, false, false) == CloseStep::kForget);  // closed by an earlier run or the provider
  CHECK(close_step(e, {nullptr, 500, 7, false, false}) == CloseStep::kNotSeen);  // its opening nonce is unused here
  CHECK(step(&open, 198, false, false) == CloseStep::kKeep);      // not expired
  CHECK(step(&open, 199, false, false) == CloseStep::kClose);     // claimed everything it took
  CHECK(step(&open, 199, true, true) == CloseStep::kClose);

  const EscrowState unclaimed{1000, 400, 200};  // took a receipt for 600, claimed 400 so far
  CHECK(step(&unclaimed, 150, true, false) == CloseStep::kKeep);
  CHECK(step(&unclaimed, 300, true, false) == CloseStep::kWaitForClaim);
  CHECK(step(&unclaimed, 300, false, false) == CloseStep::kWaitForClaim);
  // After the wait: a receipt from this run gets until the next run; an older one had its chance.
  CHECK(step(&unclaimed, 300, true, true) == CloseStep::kKeep);
  CHECK(step(&unclaimed, 300, false, true) == CloseStep::kClose);

  const ProviderEscrow never_paid{1, addr(8), 8, addr(2), 1000, 0};  // a dropped escrow with no receipt
  const EscrowState untouched{1000, 0, 200};
  CHECK(close_step(never_paid, {&untouched, 250, 9, false, false}) == CloseStep::kClose);
}

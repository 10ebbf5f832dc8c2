// A chain for the Proof-of-Service ledger tests: epochs of 4 blocks, four
// validators (accounts 0..3, consensus keys vote_key(i), stakes 1000..4000)
// bonded in block 1, and an offer of account 4 (provider key: account 5's)
// registered in block 1, so epoch 1 is the first that audits it.
#pragma once
#include <algorithm>
#include <map>

#include "ledger/pos/assign.hpp"
#include "ledger/pos/codec.hpp"
#include "ledger/pos/schedule.hpp"
#include "ledger/pos_ledger.hpp"
#include "ledger/validators.hpp"
#include "ledger_fixture.hpp"

namespace bc::ledger::test {

struct PosChain : Chain {
  static constexpr std::uint64_t kEpoch = 4;
  static constexpr std::size_t kValidators = 4, kOwner = 4;
  pos::Offer offer;

  // The default PoS parameters but the new providers' hold-back, off unless
  // a test turns it on, so pay is whole at each settlement.
  static pos::PosParams fixture_pos() {
    pos::PosParams p;
    p.holdback_epochs = 0;
    return p;
  }

  explicit PosChain(const pos::PosParams& pos = fixture_pos()) : Chain(8) {
    ledger.reset();
    std::filesystem::remove_all(dir.path);
    tg.genesis.params.epoch_length = kEpoch;
    tg.genesis.params.pos = pos;
    reopen();
    std::vector<Tx> txs;
    for (std::size_t i = 0; i < kValidators; ++i)
      txs.push_back(tx(i, bond_with_key(1000 * (i + 1), vote(i), ledger->params().chain_id, addr(i))));
    txs.push_back(tx(kOwner, RegisterService{"web"}));
    REQUIRE(include(txs).ok());
    offer = make_offer(1);
    REQUIRE(include(tx(kOwner, PosOffer{offer})).ok());
  }

  static KeyPair vote(std::size_t i) { return test_key(4242, i); }
  static Hash256 secret(std::size_t i, std::uint64_t epoch) { return sha256(as_bytes("probe secret " + std::to_string(i) + "/" + std::to_string(epoch))); }
  static Hash256 seed_reveal(std::size_t i, std::uint64_t epoch) { return sha256(as_bytes("reveal " + std::to_string(i) + "/" + std::to_string(epoch))); }
  pos::PosParams params_pos() const { return pos_params(ledger->params()); }
  std::uint64_t epoch_now() const { return epoch_of(ledger->head().height + 1, ledger->params()); }

  pos::Offer make_offer(std::uint64_t nonce) const {
    pos::Offer o;
    o.service_id = service_id_of(key(kOwner).public_key(), "web");
    o.provider = key(kOwner + 1).public_key();
    o.probe_request = Bytes{'G', 'E', 'T', ' ', '/'};
    o.expected_response_hash = sha256(as_bytes("HTTP/1.1 200 OK"));
    o.max_latency_ms = 500;
    o.bond = 50'000;
    o.nonce = nonce;
    pos::sign_offer(o, key(kOwner));
    return o;
  }

  // The producer's verdict on `t` in the next block; no block is applied.
  Status verdict(const Tx& t) {
    auto built = ledger->build_block({&t}, now + 1000, producer);
    return built.dropped.empty() ? Status{} : built.dropped.front().second;
  }
  // The verdict, and when it is a pass, the tx included in the next block.
  Status submit(const Tx& t) {
    Status s = verdict(t);
    return s.ok() ? include(t) : s;
  }

  // Applies empty blocks until the next block is the first of `epoch`.
  void run_to_epoch(std::uint64_t epoch) {
    while (ledger->head().height + 1 < first_height_of(epoch, ledger->params())) REQUIRE(include(std::vector<Tx>{}).ok());
  }

  PosCommit commit(std::size_t i, std::uint64_t epoch) const {
    const XOnlyPubKey k = vote(i).public_key();
    return PosCommit{epoch, pos::probe_commitment(secret(i, epoch), k, epoch), pos::seed_commitment(seed_reveal(i, epoch), k, epoch)};
  }
  PosReveal reveal(std::size_t i, std::uint64_t epoch) const { return PosReveal{epoch, seed_reveal(i, epoch)}; }

  // Validators 0..3 commit for `epoch` (in epoch - 2) and reveal (in epoch - 1);
  // returns with the next block the first of `epoch`.
  void prepare_epoch(std::uint64_t epoch) {
    run_to_epoch(epoch - 2);
    std::vector<Tx> txs;
    for (std::size_t i = 0; i < kValidators; ++i) txs.push_back(tx(i, commit(i, epoch)));
    REQUIRE(include(txs).ok());
    run_to_epoch(epoch - 1);
    txs.clear();
    for (std::size_t i = 0; i < kValidators; ++i) txs.push_back(tx(i, reveal(i, epoch)));
    REQUIRE(include(txs).ok());
    run_to_epoch(epoch);
    REQUIRE(include(std::vector<Tx>{}).ok());  // the first block of `epoch` writes its seed
  }

  // The validators drawn for `o` in `epoch`, recomputed from the seed and committee entries.
  std::vector<std::size_t> drawn(std::uint64_t epoch, const pos::Offer& o) const {
    const State& s = ledger->state();
    REQUIRE(s.pos_seed(epoch) != nullptr);
    std::vector<pos::StakeEntry> stakes;
    for (const auto& m : s.committee(epoch)->members) stakes.push_back({m.consensus_key, m.address, m.power});
    auto a = pos::assign_auditors(s.pos_seed(epoch)->seed, {o}, stakes, params_pos().auditors_per_offer);
    std::vector<std::size_t> out;
    for (const auto& k : a.at(0).auditors)
      for (std::size_t i = 0; i < kValidators; ++i)
        if (vote(i).public_key() == k) out.push_back(i);
    return out;
  }

  // Validator i's signed report for `o` in `epoch` following its schedule
  // (secret `s`, default its committed one), the first `failures` probes timing out.
  pos::Report report(std::size_t i, std::uint64_t epoch, const pos::Offer& o, std::uint32_t failures = 0,
                     std::optional<Hash256> s = std::nullopt) const {
    const pos::PosParams p = params_pos();
    pos::Report r;
    r.epoch = epoch;
    r.offer_id = pos::offer_id(o);
    r.secret = s.value_or(secret(i, epoch));
    std::map<std::uint32_t, std::uint64_t> at;
    for (const auto& t : pos::probe_schedule(r.secret, epoch, r.offer_id, p.probes_per_auditor, p.epoch_ms)) at[t.index] = t.at_ms;
    for (std::uint32_t n = 0; n < p.probes_per_auditor; ++n) {
      pos::ProbeRecord rec;
      rec.index = n;
      rec.scheduled_ms = at[n];
      rec.outcome = n < failures ? pos::ProbeOutcome::kTimeout : pos::ProbeOutcome::kPass;
      rec.attempts = n < failures ? 3 : 1;
      rec.response_hash = o.expected_response_hash;
      r.probes.push_back(rec);
    }
    pos::sign_report(r, vote(i));
    return r;
  }
};

}  // namespace bc::ledger::test

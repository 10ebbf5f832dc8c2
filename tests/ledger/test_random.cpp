// Randomised run with a fixed seed: many accounts, thousands of txs of every
// kind, invariants checked after every block.
#include <map>

#include "ledger_fixture.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

namespace {

// Root of a tree rebuilt from scratch out of the committed entries.
Hash256 rebuilt_root(const State& s) {
  SparseMerkleTree t;
  auto put = [&](Kind k, const Hash256& id, const Bytes& enc) { t.update(state_key(k, id), state_value_hash(enc)); };
  for (const auto& [id, v] : s.accounts()) put(Kind::kAccount, id, encode_account(v));
  for (const auto& [id, v] : s.escrows()) put(Kind::kEscrow, id, encode_escrow(v));
  for (const auto& [id, v] : s.services()) put(Kind::kService, id, encode_service(v));
  for (const auto& [id, v] : s.unbondings()) put(Kind::kUnbonding, id, encode_unbonding(v));
  for (const auto& [id, v] : s.validators()) put(Kind::kValidator, id, encode_validator(v));
  for (const auto& [id, v] : s.key_owners()) put(Kind::kKeyOwner, id, encode_key_owner(v));
  for (const auto& [id, v] : s.committees()) put(Kind::kCommittee, id, encode_committee(v));
  for (const auto& [id, v] : s.offers()) put(Kind::kOffer, id, encode_offer(v));
  for (const auto& [id, v] : s.pos_commits()) put(Kind::kPosCommit, id, encode_pos_commit(v));
  for (const auto& [id, v] : s.pos_seeds()) put(Kind::kPosSeed, id, encode_pos_seed(v));
  for (const auto& [id, v] : s.pos_reports()) put(Kind::kPosReport, id, encode_pos_report(v));
  for (const auto& [id, v] : s.pos_usages()) put(Kind::kPosUsage, id, encode_pos_usage(v));
  if (const PosSettling* v = s.pos_settling()) put(Kind::kPosSettling, Hash256{}, encode_pos_settling(*v));
  put(Kind::kSupply, Hash256{}, encode_supply(s.supply()));
  put(Kind::kParams, Hash256{}, encode_params(s.params()));
  return t.root();
}

}  // namespace

TEST_CASE("randomised blocks keep every invariant") {
  constexpr std::size_t kAccounts = 60;
  Chain c(kAccounts, 50'000, 21);
  Rng rng(2024);
  const std::string chain = c.ledger->params().chain_id;
  std::vector<std::pair<Hash256, std::size_t>> escrows;  // id, client index
  std::size_t total_txs = 0, included = 0;
  std::map<Address, std::uint64_t> last_nonce;
  std::vector<Tx> history;

  for (int block = 0; block < 60; ++block) {
    std::vector<Tx> txs;
    std::map<std::size_t, std::uint64_t> next_nonce;
    auto nonce_for = [&](std::size_t i) {
      auto it = next_nonce.find(i);
      std::uint64_t n = it == next_nonce.end() ? c.nonce(i) : it->second;
      // Sometimes a wrong nonce on purpose.
      if (rng.uniform(40) == 0) return n + 1 + rng.uniform(3);
      next_nonce[i] = n + 1;
      return n;
    };
    for (int k = 0; k < 50; ++k) {
      std::size_t from = rng.uniform(kAccounts);
      std::size_t to = rng.uniform(kAccounts);
      Amount fee = 1 + rng.uniform(3);
      TxPayload p;
      switch (rng.uniform(9)) {
        case 0: p = Bond{1 + rng.uniform(2000)}; break;
        case 1: p = Unbond{1 + rng.uniform(1500)}; break;
        case 2: p = RegisterService{"svc-" + std::to_string(rng.uniform(30))}; break;
        case 3: {
          if (to == from) to = (to + 1) % kAccounts;
          p = EscrowOpen{c.addr(to), 1 + rng.uniform(3000), c.ledger->head().height + 2 + rng.uniform(6)};
          break;
        }
        case 4: {
          if (escrows.empty()) continue;
          auto [eid, client] = escrows[rng.uniform(escrows.size())];
          const Escrow* e = c.ledger->state().escrow(eid);
          if (!e) continue;
          // Provider claims (sometimes more than deposited, sometimes nothing new).
          Amount cum = e->claimed + rng.uniform(e->remaining() + 200);
          std::size_t provider = 0;
          for (std::size_t i = 0; i < kAccounts; ++i)
            if (c.addr(i) == e->provider) provider = i;
          from = provider;
          p = EscrowClaim{eid, {sign_receipt(c.key(client), chain, eid, cum)}};
          break;
        }
        case 5: {
          if (escrows.empty()) continue;
          auto [eid, client] = escrows[rng.uniform(escrows.size())];
          from = rng.uniform(2) ? client : from;
          p = EscrowClose{eid};
          break;
        }
        case 6: {
          if (escrows.empty()) continue;
          auto [eid, client] = escrows[rng.uniform(escrows.size())];
          from = client;
          p = EscrowTopUp{eid, 1 + rng.uniform(500), 0};
          break;
        }
        default: p = Transfer{c.addr(to), 1 + rng.uniform(rng.uniform(10) == 0 ? 200'000 : 5000)}; break;
      }
      std::uint64_t n = nonce_for(from);
      if (std::holds_alternative<EscrowOpen>(p)) escrows.emplace_back(escrow_id_of(c.addr(from), n), from);
      txs.push_back(c.tx(from, p, fee, n));
    }
    // Replays of old transactions must never go in again.
    if (!history.empty() && block % 5 == 0) txs.push_back(history[rng.uniform(history.size())]);
    total_txs += txs.size();

    std::vector<const Tx*> ptrs;
    for (const auto& t : txs) ptrs.push_back(&t);
    c.now += 1000;
    auto built = c.ledger->build_block(ptrs, c.now, c.producer);
    included += built.block.txs.size();
    for (const auto& [id, st] : built.dropped) CHECK(!st.message.empty());
    Status s = c.ledger->apply_block(built.bytes);
    REQUIRE_MESSAGE(s.ok(), s.text());

    // Invariants after every block.
    const State& st = c.ledger->state();
    CHECK_MESSAGE(check_supply(st).empty(), check_supply(st));
    for (const auto& [a, acc] : st.accounts()) CHECK(acc.balance <= st.supply().minted);
    for (const Tx& t : built.block.txs) {
      auto it = last_nonce.find(t.sender);
      if (it != last_nonce.end()) CHECK(t.body.nonce > it->second);  // nonces strictly increase
      last_nonce[t.sender] = t.body.nonce;
      CHECK(st.account(t.sender)->nonce > t.body.nonce);
      history.push_back(t);
    }
    CHECK(c.ledger->computed_root() == c.ledger->head().state_root);
    if (block % 10 == 0) CHECK(rebuilt_root(st) == c.ledger->head().state_root);
  }
  MESSAGE("random run: " << total_txs << " txs offered, " << included << " included");
  CHECK(included > 1500);
  CHECK(included < total_txs);  // some were rejected on purpose
  CHECK(rebuilt_root(c.ledger->state()) == c.ledger->head().state_root);
  // Everything survives a reopen.
  Head h = c.ledger->head();
  c.reopen();
  CHECK(c.ledger->head().hash == h.hash);
  CHECK(check_supply(c.ledger->state()).empty());
}

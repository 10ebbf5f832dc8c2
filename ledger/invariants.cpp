#include "ledger/invariants.hpp"

#include <set>

namespace bc::ledger {

namespace {
std::string u128(unsigned __int128 v) {
  if (v == 0) return "0";
  std::string s;
  while (v > 0) {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  return s;
}
}  // namespace

std::string check_supply(const State& state) {
  unsigned __int128 held = 0;
  for (const auto& [a, acc] : state.accounts()) held += static_cast<unsigned __int128>(acc.balance) + acc.bonded;
  for (const auto& [id, u] : state.unbondings()) held += u.amount;
  for (const auto& [id, e] : state.escrows()) {
    if (e.claimed > e.deposited) return "escrow " + id.hex() + " paid out more than was deposited";
    held += e.remaining();
  }
  for (const auto& [id, o] : state.offers()) held += o.bond;  // provider bonds are locked apart from balances
  for (const auto& [id, u] : state.pos_usages()) {
    if (u.amount == 0) return "held usage " + id.hex() + " is empty but kept";
    held += u.amount;  // usage pay held for its epoch's settlement
  }
  held += state.supply().burned;
  if (held != state.supply().minted)
    return "supply not conserved: minted " + u128(state.supply().minted) + ", held+burned " + u128(held);
  return {};
}

namespace {
std::string check_committee(const State& state, const Committee& c) {
  std::set<XOnlyPubKey> keys;
  if (c.members.size() > state.params().max_validators) return "committee " + std::to_string(c.epoch) + " is larger than max_validators";
  for (const auto& m : c.members) {
    const Validator* v = state.validator(m.address);
    if (!v || v->consensus_key != m.consensus_key) return "committee " + std::to_string(c.epoch) + " lists a key that is not its member's";
    if (m.power == 0 || !keys.insert(m.consensus_key).second) return "committee " + std::to_string(c.epoch) + " has a zero power or a repeated key";
  }
  return {};
}
}  // namespace

std::string check_staking(const State& state) {
  for (const auto& [addr, v] : state.validators()) {
    const KeyOwner* k = state.key_owner(v.consensus_key);
    if (!k || k->address != addr) return "validator " + address_text(addr) + " does not own its consensus key";
  }
  for (const auto& [key, k] : state.key_owners()) {
    const Validator* v = state.validator(k.address);
    if (!v || key_owner_id(v->consensus_key) != key) return "key owner " + key.hex() + " points to no validator with that key";
  }
  for (const auto& [id, c] : state.committees())
    if (std::string why = check_committee(state, c); !why.empty()) return why;
  return {};
}

}  // namespace bc::ledger

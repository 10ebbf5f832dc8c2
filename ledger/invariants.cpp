#include "ledger/invariants.hpp"

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
  held += state.supply().burned;
  if (held != state.supply().minted)
    return "supply not conserved: minted " + u128(state.supply().minted) + ", held+burned " + u128(held);
  return {};
}

}  // namespace bc::ledger

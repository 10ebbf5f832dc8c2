#include "ledger/validators.hpp"

#include <algorithm>

#include "layers/assert.hpp"

namespace bc::ledger {

std::uint64_t epoch_of(std::uint64_t height, const ChainParams& params) {
  BC_ASSERT(params.epoch_length > 0);
  return height == 0 ? 0 : (height - 1) / params.epoch_length;
}

Committee compute_validator_set(const WorkingState& ws, std::uint64_t epoch) {
  const ChainParams& p = ws.params();
  Committee c;
  c.epoch = epoch;
  for (const auto& [addr, v] : ws.all_validators()) {
    if (v.status != Validator::Status::kActive) continue;
    const Amount bonded = ws.account(addr).value_or(Account{}).bonded;
    if (bonded < p.min_stake || bonded == 0) continue;
    c.members.push_back(CommitteeMember{addr, v.consensus_key, bonded});
  }
  // Power descending, then address ascending: the same order on every node.
  std::sort(c.members.begin(), c.members.end(), [](const CommitteeMember& a, const CommitteeMember& b) {
    return a.power != b.power ? a.power > b.power : a.address < b.address;
  });
  if (c.members.size() > p.max_validators) c.members.resize(p.max_validators);
  BC_ASSERT(c.members.size() <= kMaxCommittee);
  return c;
}

bool close_epoch(WorkingState& ws, std::uint64_t height) {
  const std::uint64_t e = ws.params().epoch_length;
  if (height == 0 || height % e != 0) return false;
  ws.put_committee(compute_validator_set(ws, height / e));
  return true;
}

Amount total_power(const Committee& c) {
  Amount total = 0;
  for (const auto& m : c.members) {
    const bool fits = checked_add(total, m.power, &total);
    BC_ASSERT_MSG(fits, "committee %llu: power exceeds 2^64-1", static_cast<unsigned long long>(c.epoch));
  }
  return total;
}

const CommitteeMember* find_member(const Committee& c, const XOnlyPubKey& key) {
  for (const auto& m : c.members)
    if (m.consensus_key == key) return &m;
  return nullptr;
}

}  // namespace bc::ledger

// The staking payloads (docs/staking.md, "Staking payloads"). Each checks
// everything before it writes.
#include "layers/assert.hpp"
#include "ledger/detail/apply_tx.hpp"

namespace bc::ledger::detail {

namespace {

std::string amt(Amount a) { return std::to_string(a); }

// Registers (or confirms) the sender's consensus key; writes nothing on error.
Status register_key(TxContext& c, const XOnlyPubKey& key, const Signature& proof) {
  if (!verify(key, key_proof_digest(c.ws.params().chain_id, c.tx.sender), proof))
    return fail(Error::kBadKeyProof, "bond's key proof does not verify under consensus key " + to_hex(key.view()));
  if (auto v = c.ws.validator(c.tx.sender)) {
    if (v->consensus_key != key)
      return fail(Error::kKeyTaken, "account " + address_text(c.tx.sender) + " is already a validator with consensus key " +
                                        to_hex(v->consensus_key.view()) + "; keys cannot be changed");
    return {};
  }
  if (auto owner = c.ws.key_owner(key))
    return fail(Error::kKeyTaken, "consensus key " + to_hex(key.view()) + " is registered by " + address_text(owner->address));
  Validator v;
  v.consensus_key = key;
  c.ws.put_validator(c.tx.sender, v);
  c.ws.put_key_owner(key, KeyOwner{c.tx.sender});
  return {};
}

}  // namespace

Status apply_payload(TxContext& c, const Bond& t) {
  Amount bonded = 0;
  if (!checked_add(c.sender.bonded, t.amount, &bonded)) return fail(Error::kOverflow, "bonded stake would exceed 2^64-1");
  if (t.consensus_key) {
    if (Status s = register_key(c, *t.consensus_key, t.key_proof); !s.ok()) return s;
  }
  c.sender.bonded = bonded;
  c.ws.put_account(c.tx.sender, c.sender);
  return {};
}

Status apply_payload(TxContext& c, const Unbond& t) {
  if (c.sender.bonded < t.amount)
    return fail(Error::kInsufficientStake, "account " + address_text(c.tx.sender) + " has " + amt(c.sender.bonded) +
                                               " bonded, cannot unbond " + amt(t.amount));
  std::uint64_t release = 0;
  if (__builtin_add_overflow(c.height, c.ws.params().unbonding_delay, &release)) return fail(Error::kOverflow, "release height overflows");
  c.sender.bonded -= t.amount;
  c.ws.put_account(c.tx.sender, c.sender);
  c.ws.put_unbonding(escrow_id_of(c.tx.sender, c.tx.body.nonce), Unbonding{c.tx.sender, t.amount, release});
  return {};
}

Status apply_payload(TxContext& c, const Unjail&) {
  auto v = c.ws.validator(c.tx.sender);
  if (!v) return fail(Error::kNotValidator, "account " + address_text(c.tx.sender) + " is not a validator");
  if (v->status == Validator::Status::kBanned)
    return fail(Error::kBanned, "validator " + address_text(c.tx.sender) + " is banned for double signing and cannot rejoin");
  if (v->status != Validator::Status::kJailed) return fail(Error::kNotJailed, "validator " + address_text(c.tx.sender) + " is not jailed");
  if (c.height < v->jailed_until)
    return fail(Error::kStillJailed, "validator is jailed until height " + std::to_string(v->jailed_until) + ", block height is " +
                                         std::to_string(c.height));
  const Amount min = c.ws.params().min_stake;
  if (c.sender.bonded < min)
    return fail(Error::kInsufficientStake, "validator has " + amt(c.sender.bonded) + " bonded, needs " + amt(min) + " to rejoin");
  v->status = Validator::Status::kActive;
  v->missed_bits = {};
  v->missed = 0;
  v->tracked = 0;
  c.ws.put_validator(c.tx.sender, *v);
  c.ws.put_account(c.tx.sender, c.sender);
  return {};
}

}  // namespace bc::ledger::detail

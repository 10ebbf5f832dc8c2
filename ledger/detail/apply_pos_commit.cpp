// The seed and probe commitments of Proof-of-Service (docs/proof-of-service.md,
// "The seed", "Ledger rules"): posCommit by epoch - 2, posReveal in epoch - 1.
// Each checks everything before it writes.
#include "ledger/detail/apply_tx.hpp"
#include "ledger/pos/assign.hpp"
#include "ledger/pos_ledger.hpp"
#include "ledger/validators.hpp"

namespace bc::ledger::detail {

namespace {

std::string num(std::uint64_t v) { return std::to_string(v); }

// The sender's consensus key: commitments are a validator's, made under the
// key it votes (and audits) with.
Status auditor_key(const TxContext& c, XOnlyPubKey* key) {
  auto v = c.ws.validator(c.tx.sender);
  if (!v)
    return fail(Error::kNotValidator, "account " + address_text(c.tx.sender) + " is not a validator; bond with a consensus key before committing");
  if (v->status == Validator::Status::kBanned) return fail(Error::kBanned, "validator " + address_text(c.tx.sender) + " is banned");
  *key = v->consensus_key;
  return {};
}

}  // namespace

Status apply_payload(TxContext& c, const PosCommit& t) {
  const std::uint64_t now = epoch_of(c.height, c.ws.params());
  if (t.epoch < now + 2)
    return fail(Error::kLate, "a commitment for epoch " + num(t.epoch) + " is accepted until the end of epoch " + num(t.epoch) +
                                  " - 2; this block is in epoch " + num(now) + " (commit for epoch " + num(now + 2) + " or later)");
  if (t.epoch > now + 2 + kPosCommitLead)
    return fail(Error::kTooEarly, "a commitment for epoch " + num(t.epoch) + " is more than " + num(kPosCommitLead) + " epochs ahead of epoch " +
                                      num(now + 2));
  XOnlyPubKey key;
  if (Status s = auditor_key(c, &key); !s.ok()) return s;
  const Hash256 id = pos_commit_id(key, t.epoch);
  if (c.ws.pos_commit(id)) return fail(Error::kDuplicate, "consensus key " + to_hex(key.view()) + " already committed for epoch " + num(t.epoch));
  c.ws.put_pos_commit(id, PosCommitment{key, t.epoch, t.probe_commitment, t.seed_commit, std::nullopt});
  c.ws.put_account(c.tx.sender, c.sender);
  return {};
}

Status apply_payload(TxContext& c, const PosReveal& t) {
  const std::uint64_t now = epoch_of(c.height, c.ws.params());
  if (t.epoch < now + 1)
    return fail(Error::kLate, "the seed reveal for epoch " + num(t.epoch) + " is accepted in epoch " + num(t.epoch) + " - 1 only; this is epoch " + num(now));
  if (t.epoch > now + 1)
    return fail(Error::kTooEarly, "the seed reveal for epoch " + num(t.epoch) + " is accepted in epoch " + num(t.epoch - 1) + " only; this is epoch " +
                                      num(now) + " (revealing early would let others choose theirs)");
  XOnlyPubKey key;
  if (Status s = auditor_key(c, &key); !s.ok()) return s;
  const Hash256 id = pos_commit_id(key, t.epoch);
  auto commit = c.ws.pos_commit(id);
  if (!commit) return fail(Error::kBadCommitment, "consensus key " + to_hex(key.view()) + " made no commitment for epoch " + num(t.epoch));
  if (commit->reveal) return fail(Error::kDuplicate, "the seed reveal for epoch " + num(t.epoch) + " is already on chain");
  if (pos::seed_commitment(t.r, key, t.epoch) != commit->seed_commit)
    return fail(Error::kBadCommitment, "the reveal does not match the seed commitment for epoch " + num(t.epoch));
  commit->reveal = t.r;
  c.ws.put_pos_commit(id, *commit);
  c.ws.put_account(c.tx.sender, c.sender);
  return {};
}

}  // namespace bc::ledger::detail

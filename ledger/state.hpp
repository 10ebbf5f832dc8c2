// Ledger state: the committed entries, their byte encodings and SMT keys, and
// the working overlay that a block is applied to before it is committed.
//
// Every entry lives in one sparse Merkle tree under
//   key = tagged_hash("blockcloud/state-key/v1", kind || id)
//   value_hash = tagged_hash("blockcloud/state-value/v1", encoding)
// with kinds 'a' account (id = address), 'e' escrow, 's' service,
// 'u' unbonding, 'g' supply, 'p' chain parameters (id = zero), 'v' validator
// (id = address), 'k' key owner (id = consensus key) and 'c' committee
// (id = committee_id(epoch)); docs/staking.md; 'o' provider offer (id =
// pos::offer_id), 'm' PoS commitment (id = pos_commit_id(auditor, epoch)),
// 'd' epoch seed (id = committee_id(epoch)) and 'r' report record (id =
// pos_report_id(epoch, offer, auditor)) and 'h' held usage pay (id =
// pos_usage_id(epoch, provider, escrow)) and 'l' the settlement in progress
// (id zero, at most one), docs/proof-of-service.md.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "layers/bytes.hpp"
#include "ledger/pos/assign.hpp"
#include "ledger/smt.hpp"
#include "ledger/types.hpp"

namespace bc::ledger {

enum class Kind : std::uint8_t {
  kAccount = 'a', kEscrow = 'e', kService = 's', kUnbonding = 'u', kSupply = 'g', kParams = 'p',
  kValidator = 'v', kKeyOwner = 'k', kCommittee = 'c', kOffer = 'o',
  kPosCommit = 'm', kPosSeed = 'd', kPosReport = 'r', kPosUsage = 'h',
  kPosSettling = 'l',
};

Hash256 state_key(Kind kind, const Hash256& id);
Hash256 state_value_hash(ByteView encoding);

Bytes encode_account(const Account& a);
Bytes encode_escrow(const Escrow& e);
Bytes encode_service(const Service& s);
Bytes encode_unbonding(const Unbonding& u);
Bytes encode_supply(const Supply& s);
Bytes encode_params(const ChainParams& p);
std::optional<Account> decode_account(ByteView b);
std::optional<Escrow> decode_escrow(ByteView b);
std::optional<Service> decode_service(ByteView b);
std::optional<Unbonding> decode_unbonding(ByteView b);
std::optional<Supply> decode_supply(ByteView b);
std::optional<ChainParams> decode_params(ByteView b);
Bytes encode_validator(const Validator& v);
Bytes encode_key_owner(const KeyOwner& k);
Bytes encode_committee(const Committee& c);
std::optional<Validator> decode_validator(ByteView b);
std::optional<KeyOwner> decode_key_owner(ByteView b);
// Refuses more than kMaxCommittee members, zero power or unsorted members.
std::optional<Committee> decode_committee(ByteView b);
Bytes encode_offer(const ProviderOffer& o);
// Refuses an offer encoding over kMaxOfferBytes or an unknown status.
std::optional<ProviderOffer> decode_offer(ByteView b);
inline constexpr std::size_t kMaxOfferBytes = 16u << 10;
Bytes encode_pos_commit(const PosCommitment& c);
std::optional<PosCommitment> decode_pos_commit(ByteView b);
Bytes encode_pos_seed(const PosSeed& s);
std::optional<PosSeed> decode_pos_seed(ByteView b);
Bytes encode_pos_report(const PosReportRecord& r);
// Refuses a report frame over kMaxOfferBytes.
std::optional<PosReportRecord> decode_pos_report(ByteView b);
Bytes encode_pos_usage(const PosUsage& u);
std::optional<PosUsage> decode_pos_usage(ByteView b);
Bytes encode_pos_settling(const PosSettling& s);
std::optional<PosSettling> decode_pos_settling(ByteView b);

inline constexpr std::size_t kMaxCommittee = 1000;  // as bft::kMaxValidators
// Empty when the staking parameters are in range, else what is wrong.
std::string check_staking_params(const ChainParams& p);
// State ids of the staking entries.
Hash256 committee_id(std::uint64_t epoch);
inline Hash256 key_owner_id(const XOnlyPubKey& key) {
  Hash256 h;
  h.bytes = key.bytes;
  return h;
}

using EntryValue =
    std::variant<std::monostate, Account, Escrow, Service, Unbonding, Supply, ChainParams, Validator, KeyOwner, Committee, ProviderOffer,
                 PosCommitment, PosSeed, PosReportRecord, PosUsage, PosSettling>;
Bytes encode_entry(const EntryValue& v);  // empty for monostate

// One entry written (or deleted: value is monostate) by a block.
struct Change {
  Kind kind;
  Hash256 id;
  EntryValue value;
  Bytes encoding;  // empty when deleted
};

// The previous value hash of each changed key, to undo a tree update.
using TreeUndo = std::vector<std::optional<Hash256>>;

using HashMapAddr = std::unordered_map<Hash256, Account, Hash256Hasher>;

// The committed state, all in memory (rebuilt from the store on open).
class State {
 public:
  const Account* account(const Address& a) const;
  const Escrow* escrow(const Hash256& id) const;
  const Service* service(const Hash256& id) const;
  const Unbonding* unbonding(const Hash256& id) const;
  const Validator* validator(const Address& a) const;
  const KeyOwner* key_owner(const XOnlyPubKey& key) const;
  const Committee* committee(std::uint64_t epoch) const;
  const ProviderOffer* offer(const Hash256& id) const;
  const PosCommitment* pos_commit(const Hash256& id) const;
  const PosSeed* pos_seed(std::uint64_t epoch) const;
  const PosReportRecord* pos_report(const Hash256& id) const;
  const PosUsage* pos_usage(const Hash256& id) const;
  const PosSettling* pos_settling() const;
  const Supply& supply() const { return supply_; }
  const ChainParams& params() const { return params_; }

  const std::unordered_map<Hash256, Account, Hash256Hasher>& accounts() const { return accounts_; }
  const std::unordered_map<Hash256, Escrow, Hash256Hasher>& escrows() const { return escrows_; }
  const std::unordered_map<Hash256, Service, Hash256Hasher>& services() const { return services_; }
  const std::unordered_map<Hash256, Unbonding, Hash256Hasher>& unbondings() const { return unbondings_; }
  const std::unordered_map<Hash256, Validator, Hash256Hasher>& validators() const { return validators_; }
  const std::unordered_map<Hash256, KeyOwner, Hash256Hasher>& key_owners() const { return key_owners_; }
  const std::unordered_map<Hash256, Committee, Hash256Hasher>& committees() const { return committees_; }
  const std::unordered_map<Hash256, ProviderOffer, Hash256Hasher>& offers() const { return offers_; }
  const std::unordered_map<Hash256, PosCommitment, Hash256Hasher>& pos_commits() const { return pos_commits_; }
  const std::unordered_map<Hash256, PosSeed, Hash256Hasher>& pos_seeds() const { return pos_seeds_; }
  const std::unordered_map<Hash256, PosReportRecord, Hash256Hasher>& pos_reports() const { return pos_reports_; }
  const std::unordered_map<Hash256, PosUsage, Hash256Hasher>& pos_usages() const { return pos_usages_; }
  // Unbonding IDs with release_height <= height, in (height, id) order.
  std::vector<Hash256> unbondings_due(std::uint64_t height) const;

  // Applies changes to the maps and the tree. Returns the previous value
  // hash of each changed key (for revert()).
  TreeUndo apply(const std::vector<Change>& changes);
  // Only the tree: used to compute a candidate root and undo it.
  TreeUndo apply_to_tree(const std::vector<Change>& changes);
  void revert_tree(const std::vector<Change>& changes, const TreeUndo& old);
  // Maps only (tree already updated by apply_to_tree).
  void apply_to_maps(const std::vector<Change>& changes);

  Hash256 root() { return tree_.root(); }
  SparseMerkleTree& tree() { return tree_; }

 private:
  std::unordered_map<Hash256, Account, Hash256Hasher> accounts_;
  std::unordered_map<Hash256, Escrow, Hash256Hasher> escrows_;
  std::unordered_map<Hash256, Service, Hash256Hasher> services_;
  std::unordered_map<Hash256, Unbonding, Hash256Hasher> unbondings_;
  std::set<std::pair<std::uint64_t, Hash256>> unbond_queue_;
  std::unordered_map<Hash256, Validator, Hash256Hasher> validators_;
  std::unordered_map<Hash256, KeyOwner, Hash256Hasher> key_owners_;
  std::unordered_map<Hash256, Committee, Hash256Hasher> committees_;
  std::unordered_map<Hash256, ProviderOffer, Hash256Hasher> offers_;
  std::unordered_map<Hash256, PosCommitment, Hash256Hasher> pos_commits_;
  std::unordered_map<Hash256, PosSeed, Hash256Hasher> pos_seeds_;
  std::unordered_map<Hash256, PosReportRecord, Hash256Hasher> pos_reports_;
  std::unordered_map<Hash256, PosUsage, Hash256Hasher> pos_usages_;
  std::unordered_map<Hash256, PosSettling, Hash256Hasher> pos_settling_;  // at most the one entry, id zero
  Supply supply_;
  ChainParams params_;
  SparseMerkleTree tree_;
};

// Copy-on-write view of a State for applying one block (or one candidate tx
// while building a block). Nothing touches the State until commit.
class WorkingState {
 public:
  explicit WorkingState(const State& base) : base_(base), supply_(base.supply()) {}

  const ChainParams& params() const { return base_.params(); }
  std::optional<Account> account(const Address& a) const;
  std::optional<Escrow> escrow(const Hash256& id) const;
  std::optional<Service> service(const Hash256& id) const;
  std::optional<Unbonding> unbonding(const Hash256& id) const;
  std::optional<Validator> validator(const Address& a) const;
  std::optional<KeyOwner> key_owner(const XOnlyPubKey& key) const;
  std::optional<Committee> committee(std::uint64_t epoch) const;
  std::optional<ProviderOffer> offer(const Hash256& id) const;
  std::optional<PosCommitment> pos_commit(const Hash256& id) const;
  std::optional<PosSeed> pos_seed(std::uint64_t epoch) const;
  std::optional<PosReportRecord> pos_report(const Hash256& id) const;
  std::optional<PosUsage> pos_usage(const Hash256& id) const;
  std::optional<PosSettling> pos_settling() const;
  // Held usage entries of `epoch` as this overlay sees them, by id.
  std::vector<std::pair<Hash256, PosUsage>> pos_usages_of(std::uint64_t epoch) const;
  // A contradiction proven by a posReport of this block, punished by the
  // block's effects after its transactions (docs/proof-of-service.md,
  // "Reports"). Block-scoped: never in changes().
  struct PosOffence {
    Address offender;             // the auditor's validator account
    std::uint64_t offence_height = 0;
    Hash256 reason;               // report_evidence_hash
  };
  const std::vector<PosOffence>& pos_offences() const { return offences_; }
  void add_pos_offence(PosOffence o) { offences_.push_back(o); }
  // The auditor draw of `epoch` (ledger/pos_ledger.hpp), computed at most
  // once per overlay: its inputs are fixed for the epoch. Null until cached.
  using AssignmentDraw = std::shared_ptr<const std::vector<pos::Assignment>>;
  AssignmentDraw cached_assignments(std::uint64_t epoch) const;
  void cache_assignments(std::uint64_t epoch, AssignmentDraw draw) const { assignments_[epoch] = std::move(draw); }
  // Offer entries as this overlay sees them, by id.
  std::vector<std::pair<Hash256, ProviderOffer>> all_offers() const;
  // The unbonding entries of `owner` as this overlay sees them, by id.
  std::vector<std::pair<Hash256, Unbonding>> unbondings_of(const Address& owner) const;
  // Validator entries as this overlay sees them, by address.
  std::vector<std::pair<Address, Validator>> all_validators() const;
  const Supply& supply() const { return supply_; }

  void put_account(const Address& a, const Account& v) { accounts_[a] = v; }
  void put_escrow(const Hash256& id, const Escrow& v) { escrows_[id] = v; }
  void delete_escrow(const Hash256& id) { escrows_[id] = std::nullopt; }
  void put_service(const Hash256& id, const Service& v) { services_[id] = v; }
  void put_unbonding(const Hash256& id, const Unbonding& v) { unbondings_[id] = v; }
  void delete_unbonding(const Hash256& id) { unbondings_[id] = std::nullopt; }
  void put_validator(const Address& a, const Validator& v) { validators_[a] = v; }
  void put_key_owner(const XOnlyPubKey& key, const KeyOwner& k) { key_owners_[key_owner_id(key)] = k; }
  void put_committee(const Committee& c) { committees_[committee_id(c.epoch)] = c; }
  void put_offer(const Hash256& id, const ProviderOffer& o) { offers_[id] = o; }
  void put_pos_commit(const Hash256& id, const PosCommitment& c) { pos_commits_[id] = c; }
  void put_pos_seed(std::uint64_t epoch, const PosSeed& s) { pos_seeds_[committee_id(epoch)] = s; }
  void put_pos_report(const Hash256& id, const PosReportRecord& r) { pos_reports_[id] = r; }
  void delete_pos_report(const Hash256& id) { pos_reports_[id] = std::nullopt; }
  void delete_pos_commit(const Hash256& id) { pos_commits_[id] = std::nullopt; }
  void put_pos_usage(const Hash256& id, const PosUsage& u) { pos_usages_[id] = u; }
  void delete_pos_usage(const Hash256& id) { pos_usages_[id] = std::nullopt; }
  void put_pos_settling(const PosSettling& s) { pos_settling_[Hash256{}] = s; }
  void delete_pos_settling() { pos_settling_[Hash256{}] = std::nullopt; }
  void set_supply(const Supply& s) { supply_ = s; }

  const State& base() const { return base_; }
  // Every entry that differs from the base, in a canonical order.
  std::vector<Change> changes() const;


 private:
  const State& base_;
  std::unordered_map<Hash256, std::optional<Account>, Hash256Hasher> accounts_;
  std::unordered_map<Hash256, std::optional<Escrow>, Hash256Hasher> escrows_;
  std::unordered_map<Hash256, std::optional<Service>, Hash256Hasher> services_;
  std::unordered_map<Hash256, std::optional<Unbonding>, Hash256Hasher> unbondings_;
  std::unordered_map<Hash256, std::optional<Validator>, Hash256Hasher> validators_;
  std::unordered_map<Hash256, std::optional<KeyOwner>, Hash256Hasher> key_owners_;
  std::unordered_map<Hash256, std::optional<Committee>, Hash256Hasher> committees_;
  std::unordered_map<Hash256, std::optional<ProviderOffer>, Hash256Hasher> offers_;
  std::unordered_map<Hash256, std::optional<PosCommitment>, Hash256Hasher> pos_commits_;
  std::unordered_map<Hash256, std::optional<PosSeed>, Hash256Hasher> pos_seeds_;
  std::unordered_map<Hash256, std::optional<PosReportRecord>, Hash256Hasher> pos_reports_;
  std::unordered_map<Hash256, std::optional<PosUsage>, Hash256Hasher> pos_usages_;
  std::unordered_map<Hash256, std::optional<PosSettling>, Hash256Hasher> pos_settling_;
  std::vector<PosOffence> offences_;  // this block's, in tx order: not state
  mutable std::map<std::uint64_t, AssignmentDraw> assignments_;  // a cache, not state: never in changes()
  Supply supply_;
};

}  // namespace bc::ledger

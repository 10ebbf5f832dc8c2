#include "ledger/state.hpp"

#include <algorithm>
#include <cstring>

#include "layers/crypto.hpp"
#include "ledger/detail/entry_codec.hpp"
#include "ledger/hash.hpp"
#include "ledger/pos_ledger.hpp"

namespace bc::ledger {

namespace {

using detail::EntryReader;
using detail::put32;

bool expect_kind(EntryReader& r, Kind k) { return r.u8() == static_cast<std::uint8_t>(k) && r.ok; }

std::array<std::uint64_t, 9> staking_params(const ChainParams& p) {
  return {p.epoch_length,       p.min_stake,          p.max_validators,       p.evidence_slash_bps,  p.downtime_window,
          p.downtime_min_signed_bps, p.downtime_slash_bps, p.downtime_jail_blocks, p.proposer_bonus_bps};
}

// False when a value is out of the range check_staking_params allows.
bool set_staking_params(const std::array<std::uint64_t, 9>& v, ChainParams& p) {
  for (std::size_t i : {2u, 3u, 4u, 5u, 6u, 8u})
    if (v[i] > UINT32_MAX) return false;
  p.epoch_length = v[0];
  p.min_stake = v[1];
  p.max_validators = static_cast<std::uint32_t>(v[2]);
  p.evidence_slash_bps = static_cast<std::uint32_t>(v[3]);
  p.downtime_window = static_cast<std::uint32_t>(v[4]);
  p.downtime_min_signed_bps = static_cast<std::uint32_t>(v[5]);
  p.downtime_slash_bps = static_cast<std::uint32_t>(v[6]);
  p.downtime_jail_blocks = v[7];
  p.proposer_bonus_bps = static_cast<std::uint32_t>(v[8]);
  return check_staking_params(p).empty();
}

}  // namespace

Hash256 state_key(Kind kind, const Hash256& id) {
  static const Tag tag("blockcloud/state-key/v1");
  std::uint8_t buf[33];
  buf[0] = static_cast<std::uint8_t>(kind);
  std::memcpy(buf + 1, id.data(), 32);
  return tag.hash(ByteView(buf, sizeof(buf)));
}

Hash256 state_value_hash(ByteView encoding) {
  static const Tag tag("blockcloud/state-value/v1");
  return tag.hash(encoding);
}

Bytes encode_account(const Account& a) {
  Bytes out{static_cast<std::uint8_t>(Kind::kAccount)};
  out.reserve(25);
  append_be64(out, a.balance);
  append_be64(out, a.nonce);
  append_be64(out, a.bonded);
  return out;
}
std::optional<Account> decode_account(ByteView b) {
  EntryReader r{b};
  if (!expect_kind(r, Kind::kAccount)) return std::nullopt;
  Account a;
  a.balance = r.u64();
  a.nonce = r.u64();
  a.bonded = r.u64();
  return r.done() ? std::optional(a) : std::nullopt;
}

Bytes encode_escrow(const Escrow& e) {
  Bytes out{static_cast<std::uint8_t>(Kind::kEscrow)};
  put32(out, e.client.bytes);
  put32(out, e.client_key.bytes);
  put32(out, e.provider.bytes);
  append_be64(out, e.deposited);
  append_be64(out, e.claimed);
  append_be64(out, e.expires_at);
  return out;
}
std::optional<Escrow> decode_escrow(ByteView b) {
  EntryReader r{b};
  if (!expect_kind(r, Kind::kEscrow)) return std::nullopt;
  Escrow e;
  r.fixed32(e.client.bytes);
  r.fixed32(e.client_key.bytes);
  r.fixed32(e.provider.bytes);
  e.deposited = r.u64();
  e.claimed = r.u64();
  e.expires_at = r.u64();
  if (!r.done() || e.claimed > e.deposited) return std::nullopt;
  return e;
}

Bytes encode_service(const Service& s) {
  Bytes out{static_cast<std::uint8_t>(Kind::kService)};
  put32(out, s.owner.bytes);
  append_be64(out, s.registered_at);
  out.push_back(static_cast<std::uint8_t>(s.name.size()));
  out.insert(out.end(), s.name.begin(), s.name.end());
  return out;
}
std::optional<Service> decode_service(ByteView b) {
  EntryReader r{b};
  if (!expect_kind(r, Kind::kService)) return std::nullopt;
  Service s;
  r.fixed32(s.owner.bytes);
  s.registered_at = r.u64();
  s.name = r.str(r.u8());
  return r.done() ? std::optional(s) : std::nullopt;
}

Bytes encode_unbonding(const Unbonding& u) {
  Bytes out{static_cast<std::uint8_t>(Kind::kUnbonding)};
  put32(out, u.owner.bytes);
  append_be64(out, u.amount);
  append_be64(out, u.release_height);
  return out;
}
std::optional<Unbonding> decode_unbonding(ByteView b) {
  EntryReader r{b};
  if (!expect_kind(r, Kind::kUnbonding)) return std::nullopt;
  Unbonding u;
  r.fixed32(u.owner.bytes);
  u.amount = r.u64();
  u.release_height = r.u64();
  return r.done() ? std::optional(u) : std::nullopt;
}

Bytes encode_supply(const Supply& s) {
  Bytes out{static_cast<std::uint8_t>(Kind::kSupply)};
  append_be64(out, s.minted);
  append_be64(out, s.burned);
  return out;
}
std::optional<Supply> decode_supply(ByteView b) {
  EntryReader r{b};
  if (!expect_kind(r, Kind::kSupply)) return std::nullopt;
  Supply s;
  s.minted = r.u64();
  s.burned = r.u64();
  return r.done() ? std::optional(s) : std::nullopt;
}

Bytes encode_params(const ChainParams& p) {
  Bytes out{static_cast<std::uint8_t>(Kind::kParams)};
  out.push_back(static_cast<std::uint8_t>(p.chain_id.size()));
  out.insert(out.end(), p.chain_id.begin(), p.chain_id.end());
  append_be64(out, p.unbonding_delay);
  append_be64(out, p.max_tx_bytes);
  append_be64(out, p.max_receipts);
  append_be64(out, p.max_block_bytes);
  append_be64(out, p.max_block_txs);
  append_be64(out, p.max_block_effects);
  append_be64(out, p.min_fee);
  append_be64(out, p.block_reward);
  append_be64(out, static_cast<std::uint64_t>(p.block_interval_ms));
  append_be64(out, p.producers.size());
  for (const auto& k : p.producers) put32(out, k.bytes);
  for (std::uint64_t v : staking_params(p)) append_be64(out, v);
  for (std::uint64_t v : pos_param_values(p.pos)) append_be64(out, v);
  return out;
}
std::optional<ChainParams> decode_params(ByteView b) {
  EntryReader r{b};
  if (!expect_kind(r, Kind::kParams)) return std::nullopt;
  ChainParams p;
  p.chain_id = r.str(r.u8());
  p.unbonding_delay = r.u64();
  p.max_tx_bytes = static_cast<std::uint32_t>(r.u64());
  p.max_receipts = static_cast<std::uint32_t>(r.u64());
  p.max_block_bytes = static_cast<std::uint32_t>(r.u64());
  p.max_block_txs = static_cast<std::uint32_t>(r.u64());
  p.max_block_effects = static_cast<std::uint32_t>(r.u64());
  p.min_fee = r.u64();
  p.block_reward = r.u64();
  p.block_interval_ms = static_cast<std::int64_t>(r.u64());
  std::uint64_t n = r.u64();
  if (!r.ok || n > 1024) return std::nullopt;
  p.producers.resize(n);
  for (auto& k : p.producers) r.fixed32(k.bytes);
  std::array<std::uint64_t, 9> staking{};
  for (auto& v : staking) v = r.u64();
  std::array<std::uint64_t, kPosParamCount> pos{};
  for (auto& v : pos) v = r.u64();
  if (!r.done() || !set_staking_params(staking, p) || !set_pos_param_values(pos, p.pos) || !check_pos_params(p.pos).empty())
    return std::nullopt;
  return p;
}

Bytes encode_entry(const EntryValue& v) {
  return std::visit(
      [](const auto& x) -> Bytes {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) return {};
        else if constexpr (std::is_same_v<T, Account>) return encode_account(x);
        else if constexpr (std::is_same_v<T, Escrow>) return encode_escrow(x);
        else if constexpr (std::is_same_v<T, Service>) return encode_service(x);
        else if constexpr (std::is_same_v<T, Unbonding>) return encode_unbonding(x);
        else if constexpr (std::is_same_v<T, Supply>) return encode_supply(x);
        else if constexpr (std::is_same_v<T, ChainParams>) return encode_params(x);
        else if constexpr (std::is_same_v<T, Validator>) return encode_validator(x);
        else if constexpr (std::is_same_v<T, KeyOwner>) return encode_key_owner(x);
        else if constexpr (std::is_same_v<T, Committee>) return encode_committee(x);
        else if constexpr (std::is_same_v<T, ProviderOffer>) return encode_offer(x);
        else if constexpr (std::is_same_v<T, PosCommitment>) return encode_pos_commit(x);
        else if constexpr (std::is_same_v<T, PosSeed>) return encode_pos_seed(x);
        else if constexpr (std::is_same_v<T, PosReportRecord>) return encode_pos_report(x);
        else if constexpr (std::is_same_v<T, PosUsage>) return encode_pos_usage(x);
        else return encode_pos_settling(x);
      },
      v);
}

// ---- State -------------------------------------------------------------------

const Account* State::account(const Address& a) const {
  auto it = accounts_.find(a);
  return it == accounts_.end() ? nullptr : &it->second;
}
const Escrow* State::escrow(const Hash256& id) const {
  auto it = escrows_.find(id);
  return it == escrows_.end() ? nullptr : &it->second;
}
const Service* State::service(const Hash256& id) const {
  auto it = services_.find(id);
  return it == services_.end() ? nullptr : &it->second;
}
const Unbonding* State::unbonding(const Hash256& id) const {
  auto it = unbondings_.find(id);
  return it == unbondings_.end() ? nullptr : &it->second;
}

namespace {
template <typename T, typename Map>
const T* find_in(const Map& m, const Hash256& id) {
  auto it = m.find(id);
  return it == m.end() ? nullptr : &it->second;
}

// Sets or erases one map entry from a change.
template <typename T, typename Map>
void put_or_erase(Map& m, const Change& c) {
  if (std::holds_alternative<std::monostate>(c.value)) m.erase(c.id);
  else m[c.id] = std::get<T>(c.value);
}
}  // namespace

const Validator* State::validator(const Address& a) const { return find_in<Validator>(validators_, a); }
const KeyOwner* State::key_owner(const XOnlyPubKey& key) const { return find_in<KeyOwner>(key_owners_, key_owner_id(key)); }
const Committee* State::committee(std::uint64_t epoch) const { return find_in<Committee>(committees_, committee_id(epoch)); }
const ProviderOffer* State::offer(const Hash256& id) const { return find_in<ProviderOffer>(offers_, id); }
const PosCommitment* State::pos_commit(const Hash256& id) const { return find_in<PosCommitment>(pos_commits_, id); }
const PosSeed* State::pos_seed(std::uint64_t epoch) const { return find_in<PosSeed>(pos_seeds_, committee_id(epoch)); }
const PosReportRecord* State::pos_report(const Hash256& id) const { return find_in<PosReportRecord>(pos_reports_, id); }
const PosUsage* State::pos_usage(const Hash256& id) const { return find_in<PosUsage>(pos_usages_, id); }
const PosSettling* State::pos_settling() const { return find_in<PosSettling>(pos_settling_, Hash256{}); }

std::vector<Hash256> State::unbondings_due(std::uint64_t height) const {
  std::vector<Hash256> out;
  for (const auto& [h, id] : unbond_queue_) {
    if (h > height) break;
    out.push_back(id);
  }
  return out;
}

std::vector<std::optional<Hash256>> State::apply_to_tree(const std::vector<Change>& changes) {
  std::vector<std::optional<Hash256>> old;
  old.reserve(changes.size());
  for (const auto& c : changes) {
    Hash256 key = state_key(c.kind, c.id);
    old.push_back(tree_.update(key, c.encoding.empty() ? std::nullopt : std::optional(state_value_hash(c.encoding))));
  }
  return old;
}

void State::revert_tree(const std::vector<Change>& changes, const std::vector<std::optional<Hash256>>& old) {
  for (std::size_t i = changes.size(); i-- > 0;) tree_.update(state_key(changes[i].kind, changes[i].id), old[i]);
}

void State::apply_to_maps(const std::vector<Change>& changes) {
  for (const auto& c : changes) {
    const bool del = std::holds_alternative<std::monostate>(c.value);
    switch (c.kind) {
      case Kind::kAccount: put_or_erase<Account>(accounts_, c); break;
      case Kind::kEscrow: put_or_erase<Escrow>(escrows_, c); break;
      case Kind::kService: put_or_erase<Service>(services_, c); break;
      case Kind::kUnbonding: {
        auto it = unbondings_.find(c.id);
        if (it != unbondings_.end()) {
          unbond_queue_.erase({it->second.release_height, c.id});
          unbondings_.erase(it);
        }
        if (!del) {
          const auto& u = std::get<Unbonding>(c.value);
          unbondings_[c.id] = u;
          unbond_queue_.insert({u.release_height, c.id});
        }
        break;
      }
      case Kind::kSupply:
        if (!del) supply_ = std::get<Supply>(c.value);
        break;
      case Kind::kParams:
        if (!del) params_ = std::get<ChainParams>(c.value);
        break;
      case Kind::kValidator: put_or_erase<Validator>(validators_, c); break;
      case Kind::kKeyOwner: put_or_erase<KeyOwner>(key_owners_, c); break;
      case Kind::kCommittee: put_or_erase<Committee>(committees_, c); break;
      case Kind::kOffer: put_or_erase<ProviderOffer>(offers_, c); break;
      case Kind::kPosCommit: put_or_erase<PosCommitment>(pos_commits_, c); break;
      case Kind::kPosSeed: put_or_erase<PosSeed>(pos_seeds_, c); break;
      case Kind::kPosReport: put_or_erase<PosReportRecord>(pos_reports_, c); break;
      case Kind::kPosUsage: put_or_erase<PosUsage>(pos_usages_, c); break;
      case Kind::kPosSettling: put_or_erase<PosSettling>(pos_settling_, c); break;
    }
  }
}

std::vector<std::optional<Hash256>> State::apply(const std::vector<Change>& changes) {
  auto old = apply_to_tree(changes);
  apply_to_maps(changes);
  return old;
}

// ---- WorkingState ------------------------------------------------------------

namespace {

template <typename T, typename Map>
std::optional<T> lookup(const Map& overlay, const T* base, const Hash256& id) {
  auto it = overlay.find(id);
  if (it != overlay.end()) return it->second;
  return base ? std::optional<T>(*base) : std::nullopt;
}

// The entries of the base map and the overlay (the overlay wins, a deleted
// entry drops out) that satisfy `keep`, sorted by id.
template <typename T, typename BaseMap, typename Overlay, typename Keep>
std::vector<std::pair<Hash256, T>> merged_where(const BaseMap& base, const Overlay& overlay, Keep keep) {
  std::vector<std::pair<Hash256, T>> out;
  for (const auto& [id, v] : base)
    if (keep(v) && !overlay.count(id)) out.emplace_back(id, v);
  for (const auto& [id, v] : overlay)
    if (v && keep(*v)) out.emplace_back(id, *v);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

// Sorted by id so the change list (and thus the store batch) is canonical.
template <typename T, typename Map>
void collect(const Map& overlay, Kind kind, std::vector<Change>& out) {
  std::vector<std::pair<Hash256, const std::optional<T>*>> items;
  items.reserve(overlay.size());
  for (const auto& [id, v] : overlay) items.emplace_back(id, &v);
  std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [id, v] : items) {
    Change c{kind, id, {}, {}};
    if (*v) {
      c.value = **v;
      c.encoding = encode_entry(c.value);
    }
    out.push_back(std::move(c));
  }
}

}  // namespace

std::optional<Account> WorkingState::account(const Address& a) const { return lookup<Account>(accounts_, base_.account(a), a); }
std::optional<Escrow> WorkingState::escrow(const Hash256& id) const { return lookup<Escrow>(escrows_, base_.escrow(id), id); }
std::optional<Service> WorkingState::service(const Hash256& id) const { return lookup<Service>(services_, base_.service(id), id); }
std::optional<Unbonding> WorkingState::unbonding(const Hash256& id) const {
  return lookup<Unbonding>(unbondings_, base_.unbonding(id), id);
}

std::optional<Validator> WorkingState::validator(const Address& a) const { return lookup<Validator>(validators_, base_.validator(a), a); }
std::optional<KeyOwner> WorkingState::key_owner(const XOnlyPubKey& key) const {
  return lookup<KeyOwner>(key_owners_, base_.key_owner(key), key_owner_id(key));
}
std::optional<Committee> WorkingState::committee(std::uint64_t epoch) const {
  return lookup<Committee>(committees_, base_.committee(epoch), committee_id(epoch));
}

std::vector<std::pair<Hash256, Unbonding>> WorkingState::unbondings_of(const Address& owner) const {
  return merged_where<Unbonding>(base_.unbondings(), unbondings_, [&](const Unbonding& u) { return u.owner == owner; });
}

std::optional<ProviderOffer> WorkingState::offer(const Hash256& id) const {
  return lookup<ProviderOffer>(offers_, base_.offer(id), id);
}

std::optional<PosCommitment> WorkingState::pos_commit(const Hash256& id) const {
  return lookup<PosCommitment>(pos_commits_, base_.pos_commit(id), id);
}
std::optional<PosSeed> WorkingState::pos_seed(std::uint64_t epoch) const {
  return lookup<PosSeed>(pos_seeds_, base_.pos_seed(epoch), committee_id(epoch));
}
std::optional<PosReportRecord> WorkingState::pos_report(const Hash256& id) const {
  return lookup<PosReportRecord>(pos_reports_, base_.pos_report(id), id);
}
std::optional<PosUsage> WorkingState::pos_usage(const Hash256& id) const {
  return lookup<PosUsage>(pos_usages_, base_.pos_usage(id), id);
}
std::optional<PosSettling> WorkingState::pos_settling() const {
  return lookup<PosSettling>(pos_settling_, base_.pos_settling(), Hash256{});
}
std::vector<std::pair<Hash256, PosUsage>> WorkingState::pos_usages_of(std::uint64_t epoch) const {
  return merged_where<PosUsage>(base_.pos_usages(), pos_usages_, [&](const PosUsage& u) { return u.epoch == epoch; });
}
WorkingState::AssignmentDraw WorkingState::cached_assignments(std::uint64_t epoch) const {
  auto it = assignments_.find(epoch);
  return it == assignments_.end() ? nullptr : it->second;
}

std::vector<std::pair<Hash256, ProviderOffer>> WorkingState::all_offers() const {
  std::vector<std::pair<Hash256, ProviderOffer>> out;
  for (const auto& [id, o] : base_.offers())
    if (!offers_.count(id)) out.emplace_back(id, o);
  for (const auto& [id, o] : offers_)
    if (o) out.emplace_back(id, *o);
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  return out;
}

std::vector<std::pair<Address, Validator>> WorkingState::all_validators() const {
  std::vector<std::pair<Address, Validator>> out;
  for (const auto& [a, v] : base_.validators())
    if (!validators_.count(a)) out.emplace_back(a, v);
  for (const auto& [a, v] : validators_)
    if (v) out.emplace_back(a, *v);
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  return out;
}

std::vector<Change> WorkingState::changes() const {
  std::vector<Change> out;
  out.reserve(accounts_.size() + escrows_.size() + services_.size() + unbondings_.size() + validators_.size() + 2);
  collect<Account>(accounts_, Kind::kAccount, out);
  collect<Escrow>(escrows_, Kind::kEscrow, out);
  collect<Service>(services_, Kind::kService, out);
  collect<Unbonding>(unbondings_, Kind::kUnbonding, out);
  collect<Validator>(validators_, Kind::kValidator, out);
  collect<KeyOwner>(key_owners_, Kind::kKeyOwner, out);
  collect<Committee>(committees_, Kind::kCommittee, out);
  collect<ProviderOffer>(offers_, Kind::kOffer, out);
  collect<PosCommitment>(pos_commits_, Kind::kPosCommit, out);
  collect<PosSeed>(pos_seeds_, Kind::kPosSeed, out);
  collect<PosReportRecord>(pos_reports_, Kind::kPosReport, out);
  collect<PosUsage>(pos_usages_, Kind::kPosUsage, out);
  collect<PosSettling>(pos_settling_, Kind::kPosSettling, out);
  if (!(supply_ == base_.supply())) out.push_back(Change{Kind::kSupply, Hash256{}, supply_, encode_supply(supply_)});
  return out;
}

}  // namespace bc::ledger

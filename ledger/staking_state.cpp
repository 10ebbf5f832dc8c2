// Byte encodings of the staking entries (ledger/state.hpp; docs/staking.md).
#include <algorithm>

#include "ledger/detail/entry_codec.hpp"
#include "ledger/state.hpp"

namespace bc::ledger {

namespace {

using detail::EntryReader;
using detail::put32;

bool expect_kind(EntryReader& r, Kind k) { return r.u8() == static_cast<std::uint8_t>(k) && r.ok; }

// Members by power descending, then address ascending: the set's order.
bool member_before(const CommitteeMember& a, const CommitteeMember& b) {
  return a.power != b.power ? a.power > b.power : a.address < b.address;
}

}  // namespace

std::string check_staking_params(const ChainParams& p) {
  if (p.epoch_length == 0) return "epoch_length must be at least 1";
  if (p.min_stake == 0) return "min_stake must be at least 1";
  if (p.max_validators == 0 || p.max_validators > kMaxCommittee) return "max_validators must be 1.." + std::to_string(kMaxCommittee);
  if (p.downtime_window == 0 || p.downtime_window > 128) return "downtime_window must be 1..128";
  for (std::uint32_t bps : {p.evidence_slash_bps, p.downtime_min_signed_bps, p.downtime_slash_bps, p.proposer_bonus_bps})
    if (bps > 10'000) return "a rate in basis points must be at most 10000";
  return {};
}

Hash256 committee_id(std::uint64_t epoch) {
  Hash256 id;
  be64_store(id.bytes.data(), epoch);
  return id;
}

Bytes encode_validator(const Validator& v) {
  Bytes out{static_cast<std::uint8_t>(Kind::kValidator)};
  put32(out, v.consensus_key.bytes);
  out.push_back(static_cast<std::uint8_t>(v.status));
  append_be64(out, v.jailed_until);
  out.insert(out.end(), v.missed_bits.begin(), v.missed_bits.end());
  append_be64(out, v.missed);
  append_be64(out, v.tracked);
  out.push_back(static_cast<std::uint8_t>(v.audit_record.disagreed >> 8));
  out.push_back(static_cast<std::uint8_t>(v.audit_record.disagreed));
  out.push_back(v.audit_record.reports);
  return out;
}

std::optional<Validator> decode_validator(ByteView b) {
  EntryReader r{b};
  if (!expect_kind(r, Kind::kValidator)) return std::nullopt;
  Validator v;
  r.fixed32(v.consensus_key.bytes);
  const std::uint8_t status = r.u8();
  v.jailed_until = r.u64();
  r.fixed(v.missed_bits);
  const std::uint64_t missed = r.u64(), tracked = r.u64();
  const std::uint8_t hi = r.u8(), lo = r.u8();
  v.audit_record = {static_cast<std::uint16_t>(hi << 8 | lo), r.u8()};
  if (!r.done() || status > 2 || missed > 128 || tracked > 128 || missed > tracked || !pos::well_formed(v.audit_record))
    return std::nullopt;
  v.status = static_cast<Validator::Status>(status);
  v.missed = static_cast<std::uint32_t>(missed);
  v.tracked = static_cast<std::uint32_t>(tracked);
  return v;
}

Bytes encode_key_owner(const KeyOwner& k) {
  Bytes out{static_cast<std::uint8_t>(Kind::kKeyOwner)};
  put32(out, k.address.bytes);
  return out;
}

std::optional<KeyOwner> decode_key_owner(ByteView b) {
  EntryReader r{b};
  if (!expect_kind(r, Kind::kKeyOwner)) return std::nullopt;
  KeyOwner k;
  r.fixed32(k.address.bytes);
  return r.done() ? std::optional(k) : std::nullopt;
}

Bytes encode_committee(const Committee& c) {
  Bytes out{static_cast<std::uint8_t>(Kind::kCommittee)};
  append_be64(out, c.epoch);
  append_be64(out, c.members.size());
  for (const auto& m : c.members) {
    put32(out, m.address.bytes);
    put32(out, m.consensus_key.bytes);
    append_be64(out, m.power);
  }
  return out;
}

std::optional<Committee> decode_committee(ByteView b) {
  EntryReader r{b};
  if (!expect_kind(r, Kind::kCommittee)) return std::nullopt;
  Committee c;
  c.epoch = r.u64();
  const std::uint64_t n = r.u64();
  if (!r.ok || n > kMaxCommittee) return std::nullopt;
  c.members.resize(n);
  for (auto& m : c.members) {
    r.fixed32(m.address.bytes);
    r.fixed32(m.consensus_key.bytes);
    m.power = r.u64();
    if (m.power == 0) return std::nullopt;
  }
  if (!r.done() || !std::is_sorted(c.members.begin(), c.members.end(), member_before)) return std::nullopt;
  return c;
}

}  // namespace bc::ledger

// Byte encodings of the Proof-of-Service entries: offers, commitments,
// epoch seeds, report records, held usage pay and the settlement in progress (ledger/state.hpp; docs/proof-of-service.md,
// "Ledger rules").
#include "ledger/detail/entry_codec.hpp"
#include "ledger/state.hpp"

namespace bc::ledger {

namespace {
using detail::EntryReader;
using detail::put32;
using detail::put_optional_u64;
using detail::read_optional_u64;
}  // namespace

Bytes encode_offer(const ProviderOffer& o) {
  Bytes out{static_cast<std::uint8_t>(Kind::kOffer)};
  put32(out, o.account.bytes);
  put32(out, o.owner.bytes);
  put32(out, o.provider.bytes);
  put32(out, o.service_id.bytes);
  append_be64(out, o.bond);
  out.push_back(static_cast<std::uint8_t>(o.status));
  append_be64(out, o.registered_at);
  put32(out, o.unbonding.bytes);
  append_be64(out, o.reputation_bps);
  append_be64(out, o.ended_at);
  append_be64(out, o.pay_scale_bps);
  put_optional_u64(out, o.penalized_in);
  append_be64(out, o.offer.size());
  out.insert(out.end(), o.offer.begin(), o.offer.end());
  return out;
}

std::optional<ProviderOffer> decode_offer(ByteView b) {
  EntryReader r{b};
  if (r.u8() != static_cast<std::uint8_t>(Kind::kOffer) || !r.ok) return std::nullopt;
  ProviderOffer o;
  r.fixed32(o.account.bytes);
  r.fixed32(o.owner.bytes);
  r.fixed32(o.provider.bytes);
  r.fixed32(o.service_id.bytes);
  o.bond = r.u64();
  const std::uint8_t status = r.u8();
  if (status > static_cast<std::uint8_t>(ProviderOffer::Status::kBanned)) return std::nullopt;
  o.status = static_cast<ProviderOffer::Status>(status);
  o.registered_at = r.u64();
  r.fixed32(o.unbonding.bytes);
  const std::uint64_t rep = r.u64();
  o.ended_at = r.u64();
  const std::uint64_t pay = r.u64();
  if (!read_optional_u64(r, o.penalized_in)) return std::nullopt;
  const std::uint64_t n = r.u64();
  if (!r.ok || rep > 10000 || pay > 10000 || n > kMaxOfferBytes) return std::nullopt;
  o.reputation_bps = static_cast<std::uint32_t>(rep);
  o.pay_scale_bps = static_cast<std::uint32_t>(pay);
  const std::string bytes = r.str(static_cast<std::size_t>(n));
  o.offer.assign(bytes.begin(), bytes.end());
  return r.done() ? std::optional(o) : std::nullopt;
}

Bytes encode_pos_commit(const PosCommitment& c) {
  Bytes out{static_cast<std::uint8_t>(Kind::kPosCommit)};
  put32(out, c.auditor.bytes);
  append_be64(out, c.epoch);
  put32(out, c.probe_commitment.bytes);
  put32(out, c.seed_commit.bytes);
  out.push_back(c.reveal ? 1 : 0);
  if (c.reveal) put32(out, c.reveal->bytes);
  return out;
}

std::optional<PosCommitment> decode_pos_commit(ByteView b) {
  EntryReader r{b};
  if (r.u8() != static_cast<std::uint8_t>(Kind::kPosCommit) || !r.ok) return std::nullopt;
  PosCommitment c;
  r.fixed32(c.auditor.bytes);
  c.epoch = r.u64();
  r.fixed32(c.probe_commitment.bytes);
  r.fixed32(c.seed_commit.bytes);
  const std::uint8_t revealed = r.u8();
  if (revealed > 1) return std::nullopt;
  if (revealed) r.fixed32(c.reveal.emplace().bytes);
  return r.done() ? std::optional(c) : std::nullopt;
}

Bytes encode_pos_seed(const PosSeed& s) {
  Bytes out{static_cast<std::uint8_t>(Kind::kPosSeed)};
  put32(out, s.seed.bytes);
  return out;
}

std::optional<PosSeed> decode_pos_seed(ByteView b) {
  EntryReader r{b};
  if (r.u8() != static_cast<std::uint8_t>(Kind::kPosSeed) || !r.ok) return std::nullopt;
  PosSeed s;
  r.fixed32(s.seed.bytes);
  return r.done() ? std::optional(s) : std::nullopt;
}

Bytes encode_pos_report(const PosReportRecord& rec) {
  Bytes out{static_cast<std::uint8_t>(Kind::kPosReport)};
  put32(out, rec.digest.bytes);
  out.push_back(rec.contradicted ? 1 : 0);
  append_be64(out, rec.report.size());
  out.insert(out.end(), rec.report.begin(), rec.report.end());
  return out;
}

std::optional<PosReportRecord> decode_pos_report(ByteView b) {
  EntryReader r{b};
  if (r.u8() != static_cast<std::uint8_t>(Kind::kPosReport) || !r.ok) return std::nullopt;
  PosReportRecord rec;
  r.fixed32(rec.digest.bytes);
  const std::uint8_t contradicted = r.u8();
  const std::uint64_t n = r.u64();
  if (!r.ok || contradicted > 1 || n > kMaxOfferBytes) return std::nullopt;
  rec.contradicted = contradicted == 1;
  const std::string bytes = r.str(static_cast<std::size_t>(n));
  rec.report.assign(bytes.begin(), bytes.end());
  return r.done() ? std::optional(rec) : std::nullopt;
}

Bytes encode_pos_usage(const PosUsage& u) {
  Bytes out{static_cast<std::uint8_t>(Kind::kPosUsage)};
  put32(out, u.provider.bytes);
  put32(out, u.client.bytes);
  append_be64(out, u.epoch);
  append_be64(out, u.amount);
  put_optional_u64(out, u.deferred_from);
  return out;
}

std::optional<PosUsage> decode_pos_usage(ByteView b) {
  EntryReader r{b};
  if (r.u8() != static_cast<std::uint8_t>(Kind::kPosUsage) || !r.ok) return std::nullopt;
  PosUsage u;
  r.fixed32(u.provider.bytes);
  r.fixed32(u.client.bytes);
  u.epoch = r.u64();
  u.amount = r.u64();
  if (!read_optional_u64(r, u.deferred_from)) return std::nullopt;
  return r.done() ? std::optional(u) : std::nullopt;
}

Bytes encode_pos_settling(const PosSettling& s) {
  Bytes out{static_cast<std::uint8_t>(Kind::kPosSettling)};
  append_be64(out, s.epoch);
  out.push_back(static_cast<std::uint8_t>(s.phase));
  append_be64(out, s.offers_done);
  return out;
}

std::optional<PosSettling> decode_pos_settling(ByteView b) {
  EntryReader r{b};
  if (r.u8() != static_cast<std::uint8_t>(Kind::kPosSettling) || !r.ok) return std::nullopt;
  PosSettling s;
  s.epoch = r.u64();
  const std::uint8_t phase = r.u8();
  s.offers_done = r.u64();
  if (!r.ok || phase > static_cast<std::uint8_t>(PosSettling::Phase::kUsage)) return std::nullopt;
  s.phase = static_cast<PosSettling::Phase>(phase);
  return r.done() ? std::optional(s) : std::nullopt;
}

}  // namespace bc::ledger

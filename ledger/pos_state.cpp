// Byte encoding of the Proof-of-Service offer entry (ledger/state.hpp;
// docs/proof-of-service.md, "Ledger rules").
#include "ledger/detail/entry_codec.hpp"
#include "ledger/state.hpp"

namespace bc::ledger {

namespace {
using detail::EntryReader;
using detail::put32;
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
  const std::uint64_t n = r.u64();
  if (!r.ok || rep > 10000 || n > kMaxOfferBytes) return std::nullopt;
  o.reputation_bps = static_cast<std::uint32_t>(rep);
  const std::string bytes = r.str(static_cast<std::size_t>(n));
  o.offer.assign(bytes.begin(), bytes.end());
  return r.done() ? std::optional(o) : std::nullopt;
}

}  // namespace bc::ledger

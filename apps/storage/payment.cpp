#include "apps/storage/payment.hpp"

#include "layers/assert.hpp"
#include "layers/crypto.hpp"

namespace bc::storage {
namespace {
constexpr unsigned __int128 kGiB = 1ull << 30;
constexpr unsigned __int128 kDayMs = 86'400'000;
}  // namespace

Result<Amount> escrow_amount(std::uint64_t price_per_gib_day, std::uint64_t bytes, TimeMs duration_ms) {
  if (price_per_gib_day == 0 || bytes == 0 || duration_ms <= 0) return Amount{0};
  // byte_ms < 2^127; whole GiB-days q and the rest r keep every product
  // below 2^128: q x price (q < 2^64 checked) and r x price (r < 2^57).
  const unsigned __int128 unit = kGiB * kDayMs;
  const unsigned __int128 byte_ms = static_cast<unsigned __int128>(bytes) * static_cast<std::uint64_t>(duration_ms);
  const unsigned __int128 q = byte_ms / unit, r = byte_ms % unit;
  const unsigned __int128 total = q <= UINT64_MAX ? q * price_per_gib_day + (r * price_per_gib_day + unit - 1) / unit
                                                  : static_cast<unsigned __int128>(UINT64_MAX) + 1;
  if (total > UINT64_MAX)
    return fail(Error::kMalformed, "the escrow amount passes 2^64-1 base units; store for fewer days or a smaller file");
  return static_cast<Amount>(total);
}

std::uint64_t shard_bytes(const Shape& shape) {
  std::uint64_t total = 0;
  for (std::uint64_t i = 0; i < shape.segment_count(); ++i) total += shape.shard_size(i);
  return total;
}

Hash256 roots_commitment(const Manifest& m, std::uint32_t shard) {
  BC_ASSERT(shard < m.shape.total_shards());
  Bytes buf;
  buf.reserve(4 + m.shape.segment_count() * 32);
  for (int i = 3; i >= 0; --i) buf.push_back(static_cast<std::uint8_t>(shard >> (8 * i)));
  for (std::uint64_t i = 0; i < m.shape.segment_count(); ++i) {
    const ShardId root = m.root(i, shard);
    buf.insert(buf.end(), root.bytes.begin(), root.bytes.end());
  }
  return tagged_hash("blockcloud/storage/escrow-roots/v1", buf);
}

std::uint64_t escrow_expiry_height(std::uint64_t head, TimeMs period_ms, TimeMs block_interval_ms, TimeMs grace_ms) {
  BC_ASSERT(block_interval_ms > 0 && period_ms >= 0 && grace_ms >= 0);
  const auto blocks = static_cast<std::uint64_t>((period_ms + grace_ms + block_interval_ms - 1) / block_interval_ms);
  return head + blocks + 1;
}

Amount earned_by(Amount amount, TimeMs start, TimeMs end, TimeMs now) {
  if (now <= start) return 0;
  if (now >= end || end <= start) return amount;
  const auto part = static_cast<unsigned __int128>(amount) * static_cast<std::uint64_t>(now - start) /
                    static_cast<std::uint64_t>(end - start);
  return static_cast<Amount>(part);  // <= amount
}

std::vector<ProviderEscrow> plan_escrows(const ledger::Address& client, std::uint64_t first_nonce,
                                         const std::vector<ledger::Address>& providers, const std::vector<Amount>& amounts) {
  BC_ASSERT(providers.size() == amounts.size());
  std::vector<ProviderEscrow> out;
  for (std::uint32_t j = 0; j < providers.size(); ++j) {
    if (amounts[j] == 0) continue;
    const std::uint64_t nonce = first_nonce + out.size();
    out.push_back(ProviderEscrow{j, ledger::escrow_id_of(client, nonce), nonce, providers[j], amounts[j], 0});
  }
  return out;
}

Amount receipt_due(const ProviderEscrow& e, TimeMs stored_at, TimeMs expires_at, TimeMs now, bool passed) {
  if (!passed) return 0;
  const Amount earned = earned_by(e.amount, stored_at, expires_at, now);
  return earned > e.paid ? earned : 0;
}

bool client_may_close(std::uint64_t head, std::uint64_t expires_at) { return head + 1 >= expires_at; }

CloseStep close_step(const ProviderEscrow& e, const CloseView& v) {
  // An escrow reaches a file record only once it is on chain, so a missing
  // one was closed, unless this chain never committed the tx that opened it.
  if (v.chain == nullptr) return v.payer_nonce > e.nonce ? CloseStep::kForget : CloseStep::kNotSeen;
  BC_ASSERT(v.chain->claimed <= v.chain->deposited);
  if (!client_may_close(v.head, v.chain->expires_at)) return CloseStep::kKeep;
  if (v.chain->claimed >= e.paid) return CloseStep::kClose;
  if (!v.waited) return CloseStep::kWaitForClaim;
  // A receipt taken in an earlier run had that whole interval to be claimed;
  // one taken seconds ago gets until the next run, so a provider that is
  // briefly down is not robbed of its last stretch.
  return v.receipt_sent_now ? CloseStep::kKeep : CloseStep::kClose;
}

std::vector<bool> deliver_receipts(ShardTransport& transport, const std::vector<ReceiptDelivery>& receipts,
                                   std::uint64_t first_request_id) {
  std::vector<ShardTransport::Call> calls;
  for (std::size_t i = 0; i < receipts.size(); ++i)
    calls.push_back({receipts[i].provider, encode_request({first_request_id + i, receipts[i].receipt})});
  std::vector<bool> taken(receipts.size(), false);
  for (const auto& a : transport.exchange(std::move(calls))) {
    auto r = decode_response(a.response);
    if (!r.ok() || r->request_id < first_request_id || r->request_id - first_request_id >= receipts.size()) continue;
    const std::size_t i = r->request_id - first_request_id;
    const auto* t = std::get_if<ReceiptTakenResponse>(&r->body);
    taken[i] = t && a.provider == receipts[i].provider && t->cumulative == receipts[i].receipt.cumulative;
  }
  return taken;
}

bool escrow_pays_for(const Holding& h, const std::optional<EscrowOnChain>& chain, const Hash256& provider_account) {
  if (h.escrow.is_zero() || !chain || chain->provider != provider_account) return false;
  auto due = escrow_amount(h.price, h.bytes, h.last_expires_at - h.first_stored_at);
  if (!due.ok()) return false;  // more than any escrow can hold
  return static_cast<unsigned __int128>(chain->deposited) * 100 >= static_cast<unsigned __int128>(*due) * 99;
}

}  // namespace bc::storage

#include "ledger/pos/assign.hpp"

#include <algorithm>

#include "ledger/pos/codec.hpp"
#include "layers/assert.hpp"

namespace bc::pos {
namespace {

void put_u64(Bytes& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void put(Bytes& out, ByteView v) { out.insert(out.end(), v.begin(), v.end()); }

std::uint64_t draw(const Hash256& seed, const Hash256& offer, std::uint64_t i) {
  Bytes data;
  put(data, seed.view());
  put(data, offer.view());
  put_u64(data, i);
  return detail::be_word(tagged_hash("blockcloud/pos-assign/v1", data), 0);
}

std::vector<XOnlyPubKey> draw_for(const Hash256& seed, const Offer& offer, const Hash256& id,
                                  const std::vector<StakeEntry>& sorted, std::uint32_t k) {
  std::vector<const StakeEntry*> eligible;
  unsigned __int128 total = 0;
  const Hash256 owner = account_address(offer.owner);
  for (const StakeEntry& s : sorted) {
    if (s.owner == owner || s.auditor == offer.provider) continue;
    eligible.push_back(&s);
    total += s.stake;
  }
  BC_ASSERT(total <= ~std::uint64_t{0});
  std::vector<XOnlyPubKey> out;
  for (std::uint64_t i = 0; out.size() < k && !eligible.empty(); ++i) {
    // (r * total) >> 64 maps r uniformly onto [0, total) up to a bias below total / 2^64.
    const auto t = static_cast<std::uint64_t>((static_cast<unsigned __int128>(draw(seed, id, i)) * total) >> 64);
    std::uint64_t acc = 0;
    auto it = eligible.begin();
    for (; it != eligible.end(); ++it) {
      acc += (*it)->stake;
      if (t < acc) break;
    }
    BC_ASSERT(it != eligible.end());
    out.push_back((*it)->auditor);
    total -= (*it)->stake;
    eligible.erase(it);
  }
  return out;
}

}  // namespace

Hash256 account_address(const XOnlyPubKey& key) { return tagged_hash("blockcloud/account/v1", key.view()); }

Hash256 derive_seed(const Hash256& prev, std::uint64_t epoch, std::vector<std::pair<XOnlyPubKey, Hash256>> reveals) {
  std::sort(reveals.begin(), reveals.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  Bytes data;
  put(data, prev.view());
  put_u64(data, epoch);
  for (const auto& [key, reveal] : reveals) put(data, reveal.view());
  return tagged_hash("blockcloud/pos-seed/v1", data);
}

Hash256 seed_commitment(const Hash256& reveal, const XOnlyPubKey& validator, std::uint64_t epoch) {
  Bytes data;
  put(data, reveal.view());
  put(data, validator.view());
  put_u64(data, epoch);
  return tagged_hash("blockcloud/pos-seed-commit/v1", data);
}

std::vector<Assignment> assign_auditors(const Hash256& seed, const std::vector<Offer>& offers,
                                        const std::vector<StakeEntry>& stakes, std::uint32_t k) {
  std::vector<StakeEntry> sorted = stakes;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.auditor < b.auditor; });
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    BC_ASSERT(sorted[i].stake > 0);
    BC_ASSERT(i == 0 || sorted[i - 1].auditor != sorted[i].auditor);
  }
  std::vector<Assignment> out;
  out.reserve(offers.size());
  for (const Offer& o : offers) {
    const Hash256 id = offer_id(o);
    out.push_back(Assignment{id, draw_for(seed, o, id, sorted, k)});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.offer_id < b.offer_id; });
  return out;
}

}  // namespace bc::pos

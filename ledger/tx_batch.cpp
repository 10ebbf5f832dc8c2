#include "ledger/tx_batch.hpp"

#include "layers/assert.hpp"
#include "ledger/error.hpp"

namespace bc::ledger {
namespace {

// Splits the body into its entries without decoding them; fails on any
// framing fault, so a bad frame allocates no more than its count allows.
Result<std::vector<ByteView>> split_entries(ByteView body, const TxBatchLimits& limits) {
  if (body.size() > limits.max_bytes)
    return fail(Error::kOversized, "tx batch of " + std::to_string(body.size()) + " bytes; at most " + std::to_string(limits.max_bytes));
  if (body.size() < 4) return fail(Error::kMalformed, "tx batch shorter than its count");
  const std::uint32_t count = be32_load(body.data());
  if (count > limits.max_txs)
    return fail(Error::kOversized, "tx batch of " + std::to_string(count) + " txs; at most " + std::to_string(limits.max_txs));
  // Each entry takes at least its 4-byte length: a count the body cannot hold is refused before any allocation.
  if (count > (body.size() - 4) / 4) return fail(Error::kMalformed, "tx batch count larger than its body");
  std::vector<ByteView> entries;
  entries.reserve(count);
  std::size_t off = 4;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (body.size() - off < 4) return fail(Error::kMalformed, "tx batch entry " + std::to_string(i) + " has no length");
    const std::uint32_t len = be32_load(body.data() + off);
    off += 4;
    if (body.size() - off < len) return fail(Error::kMalformed, "tx batch entry " + std::to_string(i) + " runs past the body");
    entries.push_back(body.subspan(off, len));
    off += len;
  }
  if (off != body.size()) return fail(Error::kMalformed, "tx batch has trailing bytes");
  return entries;
}

}  // namespace

void append_tx_batch(Bytes& out, std::span<const ByteView> txs) {
  BC_ASSERT(txs.size() <= UINT32_MAX);
  std::size_t size = out.size() + 4;
  for (const ByteView& t : txs) size += 4 + t.size();
  out.reserve(size);
  append_be32(out, static_cast<std::uint32_t>(txs.size()));
  for (const ByteView& t : txs) {
    BC_ASSERT(t.size() <= UINT32_MAX);
    append_be32(out, static_cast<std::uint32_t>(t.size()));
    out.insert(out.end(), t.begin(), t.end());
  }
  BC_ASSERT(out.size() == size);
}

Result<DecodedTxBatch> decode_tx_batch(ByteView body, const ChainParams& params, const TxBatchLimits& limits) {
  auto entries = split_entries(body, limits);
  if (!entries.ok()) return entries.status();
  DecodedTxBatch out;
  out.txs.reserve(entries->size());
  for (const ByteView& e : *entries) {
    auto tx = decode_tx(e, params);  // bounded: refuses more than params.max_tx_bytes before decoding
    if (tx.ok()) out.txs.push_back(std::move(*tx));
    else ++out.malformed;
  }
  BC_ASSERT(out.txs.size() + out.malformed == entries->size());
  return out;
}

}  // namespace bc::ledger

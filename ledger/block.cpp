#include "ledger/block.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>

#include "layers/wire/decode.hpp"
#include "ledger/detail/cert_wire.hpp"
#include "ledger/pos/codec.hpp"
#include "ledger/hash.hpp"

namespace bc::ledger {

namespace {

using bc::wire::bytes_ptr;
using bc::wire::copy_fixed;

void write_header(const BlockHeader& h, wire::BlockHeader::Builder out) {
  out.setChainId(kj::StringPtr(h.chain_id.c_str(), h.chain_id.size()));  // explicit length: NUL-safe
  out.setHeight(h.height);
  out.setPrevHash(bytes_ptr(h.prev_hash.view()));
  out.setTime(h.time);
  out.setProposer(bytes_ptr(h.proposer.view()));
  out.setTxRoot(bytes_ptr(h.tx_root.view()));
  out.setStateRoot(bytes_ptr(h.state_root.view()));
  out.setAuditRoot(bytes_ptr(h.audit_root.view()));
  out.setEffectsRoot(bytes_ptr(h.effects_root.view()));
  out.setTxCount(h.tx_count);
  if (h.last_commit_hash) out.setLastCommitHash(bytes_ptr(h.last_commit_hash->view()));
}

bool read_header(wire::BlockHeader::Reader in, BlockHeader& h) {
  auto chain = in.getChainId();
  if (chain.size() > 64 || std::memchr(chain.cStr(), 0, chain.size()) != nullptr) return false;
  h.chain_id.assign(chain.cStr(), chain.size());
  h.height = in.getHeight();
  h.time = in.getTime();
  h.tx_count = in.getTxCount();
  h.last_commit_hash.reset();
  if (in.hasLastCommitHash()) {
    Hash256 lc;
    if (!copy_fixed(in.getLastCommitHash(), lc.bytes)) return false;
    h.last_commit_hash = lc;
  }
  return copy_fixed(in.getPrevHash(), h.prev_hash.bytes) && copy_fixed(in.getProposer(), h.proposer.bytes) &&
         copy_fixed(in.getTxRoot(), h.tx_root.bytes) && copy_fixed(in.getStateRoot(), h.state_root.bytes) &&
         copy_fixed(in.getAuditRoot(), h.audit_root.bytes) && copy_fixed(in.getEffectsRoot(), h.effects_root.bytes);
}

Status read_effects(capnp::List<wire::Effect>::Reader effects, BlockShell& shell) {
  for (unsigned i = 0; i < effects.size(); ++i) {
    auto e = effects[i];
    Effect out;
    const auto kind = static_cast<std::uint16_t>(e.getKind());
    if (kind > static_cast<std::uint16_t>(Effect::kLastKind)) return fail(Error::kMalformed, "effect " + std::to_string(i) + ": unknown kind");
    out.kind = static_cast<Effect::Kind>(kind);
    out.amount = e.getAmount();
    if (!copy_fixed(e.getAccount(), out.account.bytes) || !copy_fixed(e.getReason(), out.reason.bytes))
      return fail(Error::kMalformed, "effect " + std::to_string(i) + ": account and reason must be 32 bytes");
    shell.effects.push_back(out);
  }
  return {};
}

// The parent's certificate and the evidence, bounded (kMaxBlockEvidence).
Status read_consensus_parts(wire::Block::Reader r, BlockShell& shell) {
  if (r.hasLastCommit()) {
    CommitCertificate c;
    if (!detail::read_certificate(r.getLastCommit(), c))
      return fail(Error::kMalformed, "last commit: a field has the wrong size, or more than " + std::to_string(kMaxCommittee) + " precommits");
    shell.last_commit = std::move(c);
  }
  auto ev = r.getEvidence();
  if (ev.size() > kMaxBlockEvidence)
    return fail(Error::kOversized, std::to_string(ev.size()) + " pieces of evidence, at most " + std::to_string(kMaxBlockEvidence));
  shell.evidence.resize(ev.size());
  for (unsigned i = 0; i < ev.size(); ++i)
    if (!detail::read_evidence(ev[i], shell.evidence[i])) return fail(Error::kMalformed, "evidence " + std::to_string(i) + ": bad vote");
  return {};
}

Bytes encode_effect(const Effect& e) {
  Bytes b{static_cast<std::uint8_t>(e.kind)};
  b.insert(b.end(), e.account.bytes.begin(), e.account.bytes.end());
  append_be64(b, e.amount);
  b.insert(b.end(), e.reason.bytes.begin(), e.reason.bytes.end());
  return b;
}

}  // namespace

Hash256 header_hash(const BlockHeader& h) {
  capnp::MallocMessageBuilder msg(64);
  write_header(h, msg.initRoot<wire::BlockHeader>());
  return bc::wire::canonical_hash("blockcloud/block-header/v1", msg);
}

Hash256 merkle_root(std::vector<Hash256> level) {
  static const Tag leaf("blockcloud/merkle-leaf/v1");
  static const Tag node("blockcloud/merkle-node/v1");
  if (level.empty()) return Hash256{};
  for (auto& h : level) h = leaf.hash(h.view());
  while (level.size() > 1) {
    std::size_t out = 0;
    for (std::size_t i = 0; i < level.size(); i += 2) {
      if (i + 1 == level.size()) {
        level[out++] = level[i];
      } else {
        level[out++] = node.hash(level[i], level[i + 1]);
      }
    }
    level.resize(out);
  }
  return level[0];
}

Hash256 tx_root(const std::vector<Tx>& txs) {
  std::vector<Hash256> ids;
  ids.reserve(txs.size());
  for (const auto& t : txs) ids.push_back(t.id);
  return merkle_root(std::move(ids));
}

Hash256 audit_root(const std::vector<Tx>& txs) {
  std::vector<Hash256> digests;
  for (const auto& t : txs)
    if (const auto* r = std::get_if<PosReport>(&t.body.payload)) digests.push_back(pos::report_digest(r->report));
  return merkle_root(std::move(digests));
}

Hash256 effects_root(const std::vector<Effect>& effects) {
  std::vector<Hash256> leaves;
  for (const auto& e : effects) leaves.push_back(tagged_hash("blockcloud/effect/v1", encode_effect(e)));
  return merkle_root(std::move(leaves));
}

void sign_block(Block& b, const KeyPair& proposer) {
  b.header.proposer = proposer.public_key();
  b.signature = proposer.sign(header_hash(b.header));
}

Bytes encode_block(const Block& b) {
  std::size_t words = 256 + b.effects.size() * 16 + b.evidence.size() * 64;
  if (b.last_commit) words += 16 + b.last_commit->precommits.size() * 16;
  for (const auto& t : b.txs) words += t.body_bytes.size() / 8 + 16;
  // One segment large enough for everything: decoders accept one segment.
  capnp::MallocMessageBuilder msg(static_cast<unsigned>(words), capnp::AllocationStrategy::FIXED_SIZE);
  auto root = msg.initRoot<wire::Block>();
  write_header(b.header, root.initHeader());
  auto txs = root.initTxs(static_cast<unsigned>(b.txs.size()));
  for (unsigned i = 0; i < b.txs.size(); ++i) {
    txs[i].setBody(bytes_ptr(b.txs[i].body_bytes));
    txs[i].setSignature(bytes_ptr(b.txs[i].signature.view()));
  }
  auto effects = root.initEffects(static_cast<unsigned>(b.effects.size()));
  for (unsigned i = 0; i < b.effects.size(); ++i) {
    const Effect& e = b.effects[i];
    effects[i].setKind(static_cast<wire::Effect::Kind>(e.kind));  // the enums share their numbers
    effects[i].setAccount(bytes_ptr(e.account.view()));
    effects[i].setAmount(e.amount);
    effects[i].setReason(bytes_ptr(e.reason.view()));
  }
  root.setSignature(bytes_ptr(b.signature.view()));
  if (b.last_commit) detail::write_certificate(*b.last_commit, root.initLastCommit());
  auto ev = root.initEvidence(static_cast<unsigned>(b.evidence.size()));
  for (unsigned i = 0; i < b.evidence.size(); ++i) detail::write_evidence(b.evidence[i], ev[i]);
  kj::Array<capnp::word> flat = capnp::messageToFlatArray(msg);
  auto bytes = flat.asBytes();
  return Bytes(bytes.begin(), bytes.end());
}

Result<BlockShell> decode_block_shell(ByteView data, const ChainParams& params) {
  using R = Result<BlockShell>;
  if (data.size() > params.max_block_bytes)
    return R::error(fail(Error::kOversized, "block of " + std::to_string(data.size()) + " bytes, at most " + std::to_string(params.max_block_bytes)));
  BlockShell shell;
  shell.size = data.size();
  // Tx bodies are read in place later, so keep the bytes word-aligned. (No
  // copy of nothing: memcpy into an empty vector's null data is undefined.)
  if (!data.empty() && reinterpret_cast<std::uintptr_t>(data.data()) % 8 != 0) {
    auto copy = std::make_shared<std::vector<std::uint64_t>>((data.size() + 7) / 8);
    std::memcpy(copy->data(), data.data(), data.size());
    data = ByteView(reinterpret_cast<const std::uint8_t*>(copy->data()), data.size());
    shell.storage = copy;
  }
  bc::wire::DecodeLimits limits{.max_bytes = params.max_block_bytes, .traversal_words = data.size() / 8 * 2 + 1024, .nesting = 8, .max_segments = 1};
  Status status;
  auto err = bc::wire::decode<wire::Block>(data, limits, [&](wire::Block::Reader r) {
    if (!read_header(r.getHeader(), shell.header)) {
      status = fail(Error::kMalformed, "block header: a hash or key field is not 32 bytes, or the chain id is too long or holds a NUL");
      return;
    }
    if (!copy_fixed(r.getSignature(), shell.signature.bytes)) {
      status = fail(Error::kMalformed, "block signature must be 64 bytes");
      return;
    }
    auto txs = r.getTxs();
    if (txs.size() > params.max_block_txs) {
      status = fail(Error::kOversized, std::to_string(txs.size()) + " transactions, at most " + std::to_string(params.max_block_txs));
      return;
    }
    auto effects = r.getEffects();
    if (effects.size() > params.max_block_effects) {
      status = fail(Error::kOversized, std::to_string(effects.size()) + " effects, at most " + std::to_string(params.max_block_effects));
      return;
    }
    shell.raw_txs.reserve(txs.size());
    for (unsigned i = 0; i < txs.size(); ++i) {
      auto t = txs[i];
      RawTx raw;
      auto body = t.getBody();
      raw.body = ByteView(body.begin(), body.size());
      if (!copy_fixed(t.getSignature(), raw.signature.bytes)) {
        status = fail(Error::kMalformed, "transaction " + std::to_string(i) + ": signature must be 64 bytes");
        return;
      }
      // Size of the same tx sent alone: framing + SignedTx struct + two pointers' payloads.
      raw.wire_size = 8 + 24 + (body.size() + 7) / 8 * 8 + 64;
      shell.raw_txs.push_back(raw);
    }
    status = read_effects(effects, shell);
    if (!status.ok()) return;
    status = read_consensus_parts(r, shell);
  });
  if (err != bc::wire::DecodeError::kOk) {
    Error code = err == bc::wire::DecodeError::kOversized ? Error::kOversized : Error::kMalformed;
    return R::error(fail(code, std::string("block: ") + bc::wire::to_string(err)));
  }
  if (!status.ok()) return R::error(std::move(status));
  return R::of(std::move(shell));
}

Result<Block> decode_block(ByteView data, const ChainParams& params) {
  auto shell = decode_block_shell(data, params);
  if (!shell.ok()) return Result<Block>::error(shell.status());
  Block b;
  b.header = shell->header;
  b.effects = shell->effects;
  b.signature = shell->signature;
  b.last_commit = shell->last_commit;
  b.evidence = shell->evidence;
  b.txs.reserve(shell->raw_txs.size());
  for (std::size_t i = 0; i < shell->raw_txs.size(); ++i) {
    const RawTx& raw = shell->raw_txs[i];
    auto tx = decode_tx_parts(raw.body, raw.signature, raw.wire_size, params);
    if (!tx.ok()) return Result<Block>::error(fail(tx.status().code, "transaction " + std::to_string(i) + ": " + tx.status().message));
    b.txs.push_back(std::move(*tx));
  }
  return Result<Block>::of(std::move(b));
}

}  // namespace bc::ledger

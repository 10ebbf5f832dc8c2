#include "ledger/tx.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>

#include "layers/ids.hpp"
#include "layers/wire/decode.hpp"
#include "ledger/hash.hpp"
#include "ledger/pos/codec.hpp"
#include "ledger/wire/ledger.capnp.h"

namespace bc::ledger {

namespace {

using bc::wire::bytes_ptr;
using bc::wire::copy_fixed;
// Explicit length: the implicit std::string -> kj::StringPtr conversion stops at a NUL.
kj::StringPtr text(const std::string& s) { return kj::StringPtr(s.c_str(), s.size()); }
bool has_nul(capnp::Text::Reader t) { return std::memchr(t.cStr(), 0, t.size()) != nullptr; }

// The Proof-of-Service payloads (docs/proof-of-service.md, "Ledger rules").
void write_pos_payload(const PosOffer& p, wire::TxBody::Builder out) {
  out.initPosOffer().setOffer(bytes_ptr(pos::encode(pos::Message{p.offer})));
}
void write_pos_payload(const PosWithdraw& p, wire::TxBody::Builder out) { out.initPosWithdraw().setOfferId(bytes_ptr(p.offer_id.view())); }
void write_pos_payload(const PosCommit& p, wire::TxBody::Builder out) {
  auto c = out.initPosCommit();
  c.setEpoch(p.epoch);
  c.setProbeCommitment(bytes_ptr(p.probe_commitment.view()));
  c.setSeedCommit(bytes_ptr(p.seed_commit.view()));
}
void write_pos_payload(const PosReveal& p, wire::TxBody::Builder out) {
  auto r = out.initPosReveal();
  r.setEpoch(p.epoch);
  r.setR(bytes_ptr(p.r.view()));
}
void write_pos_payload(const PosReport& p, wire::TxBody::Builder out) {
  out.initPosReport().setReport(bytes_ptr(pos::encode(pos::Message{p.report})));
}

void write_body(const TxBody& b, wire::TxBody::Builder out) {
  out.setChainId(text(b.chain_id));
  out.setSender(bytes_ptr(b.sender.view()));
  out.setNonce(b.nonce);
  out.setFee(b.fee);
  std::visit(
      [&](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, Transfer>) {
          auto t = out.initTransfer();
          t.setTo(bytes_ptr(p.to.view()));
          t.setAmount(p.amount);
        } else if constexpr (std::is_same_v<T, Bond>) {
          auto bond = out.initBond();
          bond.setAmount(p.amount);
          if (p.consensus_key) {
            bond.setConsensusKey(bytes_ptr(p.consensus_key->view()));
            bond.setKeyProof(bytes_ptr(p.key_proof.view()));
          }
        } else if constexpr (std::is_same_v<T, Unbond>) {
          out.initUnbond().setAmount(p.amount);
        } else if constexpr (std::is_same_v<T, RegisterService>) {
          out.initRegisterService().setName(text(p.name));
        } else if constexpr (std::is_same_v<T, EscrowOpen>) {
          auto e = out.initEscrowOpen();
          e.setProvider(bytes_ptr(p.provider.view()));
          e.setAmount(p.amount);
          e.setExpiresAt(p.expires_at);
          if (!p.roots_commitment.is_zero()) e.setRootsCommitment(bytes_ptr(p.roots_commitment.view()));
        } else if constexpr (std::is_same_v<T, EscrowTopUp>) {
          auto e = out.initEscrowTopUp();
          e.setEscrowId(bytes_ptr(p.escrow_id.view()));
          e.setAmount(p.amount);
          e.setExpiresAt(p.expires_at);
        } else if constexpr (std::is_same_v<T, EscrowClaim>) {
          auto e = out.initEscrowClaim();
          e.setEscrowId(bytes_ptr(p.escrow_id.view()));
          auto list = e.initReceipts(static_cast<unsigned>(p.receipts.size()));
          for (unsigned i = 0; i < p.receipts.size(); ++i) {
            list[i].setEscrowId(bytes_ptr(p.receipts[i].escrow_id.view()));
            list[i].setCumulativeAmount(p.receipts[i].cumulative);
            list[i].setSignature(bytes_ptr(p.receipts[i].signature.view()));
          }
        } else if constexpr (std::is_same_v<T, EscrowClose>) {
          out.initEscrowClose().setEscrowId(bytes_ptr(p.escrow_id.view()));
        } else if constexpr (std::is_same_v<T, Unjail>) {
          out.initUnjail();
        } else {
          write_pos_payload(p, out);
        }
      },
      b.payload);
}

bool hash32(capnp::Data::Reader d, Hash256& out) { return copy_fixed(d, out.bytes); }

// One reader per payload kind; each refuses wrong field sizes with a Status.
Status read_transfer(wire::Transfer::Reader r, TxPayload& out) {
  Transfer t;
  if (!hash32(r.getTo(), t.to)) return fail(Error::kMalformed, "transfer recipient must be a 32-byte address");
  t.amount = r.getAmount();
  out = t;
  return {};
}

// A key comes with its proof; without a key both fields are empty.
Status read_bond(wire::Bond::Reader r, TxPayload& out) {
  Bond b;
  b.amount = r.getAmount();
  auto key = r.getConsensusKey();
  auto proof = r.getKeyProof();
  if (key.size() == 0 && proof.size() == 0) {
    out = b;
    return {};
  }
  XOnlyPubKey k;
  if (!copy_fixed(key, k.bytes)) return fail(Error::kMalformed, "bond consensus key must be 32 bytes");
  if (!copy_fixed(proof, b.key_proof.bytes)) return fail(Error::kMalformed, "bond key proof must be a 64-byte signature");
  b.consensus_key = k;
  out = b;
  return {};
}

Status read_register_service(wire::RegisterService::Reader r, TxPayload& out) {
  auto name = r.getName();
  if (name.size() > kMaxServiceName) return fail(Error::kBadServiceName, "service name longer than 64 bytes");
  if (has_nul(name)) return fail(Error::kBadServiceName, "service name contains a NUL byte");
  out = RegisterService{std::string(name.cStr(), name.size())};
  return {};
}

Status read_escrow_open(wire::EscrowOpen::Reader r, TxPayload& out) {
  EscrowOpen e;
  if (!hash32(r.getProvider(), e.provider)) return fail(Error::kMalformed, "escrow provider must be a 32-byte address");
  e.amount = r.getAmount();
  e.expires_at = r.getExpiresAt();
  // Empty means none; a zero hash is never spelled out, so one body has one encoding.
  if (r.hasRootsCommitment() && (!hash32(r.getRootsCommitment(), e.roots_commitment) || e.roots_commitment.is_zero()))
    return fail(Error::kMalformed, "escrow roots commitment must be empty or 32 bytes, not all zero");
  out = e;
  return {};
}

Status read_escrow_top_up(wire::EscrowTopUp::Reader r, TxPayload& out) {
  EscrowTopUp e;
  if (!hash32(r.getEscrowId(), e.escrow_id)) return fail(Error::kMalformed, "escrow id must be 32 bytes");
  e.amount = r.getAmount();
  e.expires_at = r.getExpiresAt();
  out = e;
  return {};
}

Status read_escrow_claim(wire::EscrowClaim::Reader r, const ChainParams& params, TxPayload& out) {
  EscrowClaim e;
  if (!hash32(r.getEscrowId(), e.escrow_id)) return fail(Error::kMalformed, "escrow id must be 32 bytes");
  auto list = r.getReceipts();
  if (list.size() > params.max_receipts)
    return fail(Error::kOversized, std::to_string(list.size()) + " receipts, at most " + std::to_string(params.max_receipts));
  e.receipts.reserve(list.size());
  for (auto rr : list) {
    UsageReceipt u;
    if (!hash32(rr.getEscrowId(), u.escrow_id)) return fail(Error::kMalformed, "receipt escrow id must be 32 bytes");
    u.cumulative = rr.getCumulativeAmount();
    if (!copy_fixed(rr.getSignature(), u.signature.bytes)) return fail(Error::kMalformed, "receipt signature must be 64 bytes");
    e.receipts.push_back(u);
  }
  out = std::move(e);
  return {};
}

Status read_escrow_close(wire::EscrowClose::Reader r, TxPayload& out) {
  EscrowClose e;
  if (!hash32(r.getEscrowId(), e.escrow_id)) return fail(Error::kMalformed, "escrow id must be 32 bytes");
  out = e;
  return {};
}

// An embedded pos frame is decoded with the pos codec's bounds, capped by the tx size.
Result<pos::Message> read_pos_frame(capnp::Data::Reader frame, const ChainParams& params, const char* what) {
  pos::PosLimits limits;
  limits.max_frame_bytes = params.max_tx_bytes;
  auto m = pos::decode(ByteView(frame.begin(), frame.size()), limits);
  if (!m.ok()) return fail(Error::kMalformed, std::string(what) + " frame: " + m.status().text());
  return m;
}

Status read_pos_offer(wire::PosOffer::Reader r, const ChainParams& params, TxPayload& out) {
  auto m = read_pos_frame(r.getOffer(), params, "offer");
  if (!m.ok()) return m.status();
  if (!std::holds_alternative<pos::Offer>(*m)) return fail(Error::kMalformed, "offer frame holds a report, not an offer");
  out = PosOffer{std::get<pos::Offer>(std::move(*m))};
  return {};
}

Status read_pos_report(wire::PosReport::Reader r, const ChainParams& params, TxPayload& out) {
  auto m = read_pos_frame(r.getReport(), params, "report");
  if (!m.ok()) return m.status();
  if (!std::holds_alternative<pos::Report>(*m)) return fail(Error::kMalformed, "report frame holds an offer, not a report");
  out = PosReport{std::get<pos::Report>(std::move(*m))};
  return {};
}

Status read_pos_commit(wire::PosCommit::Reader r, TxPayload& out) {
  PosCommit c;
  c.epoch = r.getEpoch();
  if (!hash32(r.getProbeCommitment(), c.probe_commitment)) return fail(Error::kMalformed, "probe commitment must be 32 bytes");
  if (!hash32(r.getSeedCommit(), c.seed_commit)) return fail(Error::kMalformed, "seed commitment must be 32 bytes");
  out = c;
  return {};
}

Status read_pos_reveal(wire::PosReveal::Reader r, TxPayload& out) {
  PosReveal v;
  v.epoch = r.getEpoch();
  if (!hash32(r.getR(), v.r)) return fail(Error::kMalformed, "seed reveal must be 32 bytes");
  out = v;
  return {};
}

Status read_pos_withdraw(wire::PosWithdraw::Reader r, TxPayload& out) {
  PosWithdraw w;
  if (!hash32(r.getOfferId(), w.offer_id)) return fail(Error::kMalformed, "offer id must be 32 bytes");
  out = w;
  return {};
}

Status read_payload(wire::TxBody::Reader in, const ChainParams& params, TxPayload& out) {
  switch (in.which()) {
    case wire::TxBody::TRANSFER: return read_transfer(in.getTransfer(), out);
    case wire::TxBody::BOND: return read_bond(in.getBond(), out);
    case wire::TxBody::UNBOND: out = Unbond{in.getUnbond().getAmount()}; return {};
    case wire::TxBody::REGISTER_SERVICE: return read_register_service(in.getRegisterService(), out);
    case wire::TxBody::ESCROW_OPEN: return read_escrow_open(in.getEscrowOpen(), out);
    case wire::TxBody::ESCROW_TOP_UP: return read_escrow_top_up(in.getEscrowTopUp(), out);
    case wire::TxBody::ESCROW_CLAIM: return read_escrow_claim(in.getEscrowClaim(), params, out);
    case wire::TxBody::ESCROW_CLOSE: return read_escrow_close(in.getEscrowClose(), out);
    case wire::TxBody::UNJAIL: out = Unjail{}; return {};
    case wire::TxBody::POS_OFFER: return read_pos_offer(in.getPosOffer(), params, out);
    case wire::TxBody::POS_WITHDRAW: return read_pos_withdraw(in.getPosWithdraw(), out);
    case wire::TxBody::POS_COMMIT: return read_pos_commit(in.getPosCommit(), out);
    case wire::TxBody::POS_REPORT: return read_pos_report(in.getPosReport(), params, out);
    case wire::TxBody::POS_REVEAL: return read_pos_reveal(in.getPosReveal(), out);
  }
  return fail(Error::kMalformed, "unknown transaction kind (newer software?)");
}

// Reads a body; returns an error status for wrong sizes. kj::Exception may
// escape for malformed pointers and is caught by the caller.
Status read_body(wire::TxBody::Reader in, const ChainParams& params, TxBody& b) {
  auto chain = in.getChainId();
  if (chain.size() > 64) return fail(Error::kOversized, "chain id longer than 64 bytes");
  if (has_nul(chain)) return fail(Error::kMalformed, "chain id contains a NUL byte");
  b.chain_id.assign(chain.cStr(), chain.size());
  if (!copy_fixed(in.getSender(), b.sender.bytes)) return fail(Error::kMalformed, "sender public key must be 32 bytes");
  b.nonce = in.getNonce();
  b.fee = in.getFee();
  return read_payload(in, params, b.payload);
}

std::uint64_t traversal_for(std::size_t bytes) { return bytes / 8 * 2 + 64; }

}  // namespace

const char* payload_name(const TxPayload& p) {
  static const char* names[] = {"transfer", "bond", "unbond", "register_service", "escrow_open", "escrow_top_up", "escrow_claim", "escrow_close", "unjail",
                                "pos_offer", "pos_withdraw", "pos_commit", "pos_reveal", "pos_report"};
  static_assert(sizeof(names) / sizeof(names[0]) == std::variant_size_v<TxPayload>);
  return names[p.index()];
}

const Tag& tx_tag() {
  static const Tag t("blockcloud/tx/v1");
  return t;
}

Hash256 tx_id_of(const Hash256& digest, const Signature& sig) {
  static const Tag tag("blockcloud/tx-id/v1");
  std::uint8_t buf[96];
  std::memcpy(buf, digest.data(), 32);
  std::memcpy(buf + 32, sig.bytes.data(), 64);
  return tag.hash(ByteView(buf, sizeof(buf)));
}

Hash256 service_id_of(const XOnlyPubKey& owner, std::string_view name) {
  Bytes buf(owner.bytes.begin(), owner.bytes.end());
  buf.insert(buf.end(), name.begin(), name.end());
  return tagged_hash("blockcloud/service-id/v1", buf);
}

Hash256 escrow_id_of(const Address& client, std::uint64_t nonce) {
  std::uint8_t buf[40];
  std::memcpy(buf, client.data(), 32);
  be64_store(buf + 32, nonce);
  return tagged_hash("blockcloud/escrow-id/v1", ByteView(buf, sizeof(buf)));
}

Hash256 receipt_digest(std::string_view chain_id, const Hash256& escrow_id, Amount cumulative) {
  Bytes buf;
  buf.push_back(static_cast<std::uint8_t>(chain_id.size()));
  buf.insert(buf.end(), chain_id.begin(), chain_id.end());
  buf.insert(buf.end(), escrow_id.bytes.begin(), escrow_id.bytes.end());
  append_be64(buf, cumulative);
  return tagged_hash("blockcloud/usage-receipt/v1", buf);
}

UsageReceipt sign_receipt(const KeyPair& client, std::string_view chain_id, const Hash256& escrow_id, Amount cumulative) {
  return UsageReceipt{escrow_id, cumulative, client.sign(receipt_digest(chain_id, escrow_id, cumulative))};
}

Hash256 key_proof_digest(std::string_view chain_id, const Address& account) {
  Bytes buf;
  buf.push_back(static_cast<std::uint8_t>(chain_id.size()));
  buf.insert(buf.end(), chain_id.begin(), chain_id.end());
  buf.insert(buf.end(), account.bytes.begin(), account.bytes.end());
  return tagged_hash("blockcloud/consensus-key/v1", buf);
}

Bond bond_with_key(Amount amount, const KeyPair& consensus, std::string_view chain_id, const Address& account) {
  return Bond{amount, consensus.public_key(), consensus.sign(key_proof_digest(chain_id, account))};
}

Amount tx_spend(const TxBody& body) {
  if (auto* t = std::get_if<Transfer>(&body.payload)) return t->amount;
  if (auto* b = std::get_if<Bond>(&body.payload)) return b->amount;
  if (auto* e = std::get_if<EscrowOpen>(&body.payload)) return e->amount;
  if (auto* e = std::get_if<EscrowTopUp>(&body.payload)) return e->amount;
  if (auto* o = std::get_if<PosOffer>(&body.payload)) return o->offer.bond;
  return 0;
}

Tx sign_tx(TxBody body, const KeyPair& key) {
  capnp::MallocMessageBuilder msg(128);
  write_body(body, msg.initRoot<wire::TxBody>());
  kj::Array<capnp::word> words = msg.getRoot<capnp::AnyStruct>().asReader().canonicalize();
  Tx tx;
  auto bytes = words.asBytes();
  tx.body_bytes.assign(bytes.begin(), bytes.end());
  tx.digest = tx_tag().hash(tx.body_bytes);
  tx.signature = key.sign(tx.digest);
  tx.id = tx_id_of(tx.digest, tx.signature);
  tx.sender = address_of(body.sender);
  tx.body = std::move(body);
  tx.wire_size = encode_tx(tx).size();
  return tx;
}

Bytes encode_tx(const Tx& tx) {
  capnp::MallocMessageBuilder msg(tx.body_bytes.size() / 8 + 32);
  auto root = msg.initRoot<wire::SignedTx>();
  root.setBody(bytes_ptr(tx.body_bytes));
  root.setSignature(bytes_ptr(tx.signature.view()));
  kj::Array<capnp::word> words = capnp::messageToFlatArray(msg);
  auto bytes = words.asBytes();
  return Bytes(bytes.begin(), bytes.end());
}

Result<Tx> decode_tx_parts(ByteView body_words, const Signature& sig, std::size_t wire_size, const ChainParams& params) {
  if (wire_size > params.max_tx_bytes)
    return Result<Tx>::error(fail(Error::kOversized, "transaction of " + std::to_string(wire_size) + " bytes, at most " +
                                                         std::to_string(params.max_tx_bytes)));
  if (body_words.empty() || body_words.size() % 8 != 0)
    return Result<Tx>::error(fail(Error::kMalformed, "transaction body is not a whole number of words"));
  // Reads need word alignment; a block's Data fields are aligned, other buffers may not be.
  kj::Array<capnp::word> copy;
  const capnp::word* words = reinterpret_cast<const capnp::word*>(body_words.data());
  if (reinterpret_cast<std::uintptr_t>(body_words.data()) % 8 != 0) {
    copy = kj::heapArray<capnp::word>(body_words.size() / 8);
    std::memcpy(copy.begin(), body_words.data(), body_words.size());
    words = copy.begin();
  }
  kj::ArrayPtr<const capnp::word> seg(words, body_words.size() / 8);
  capnp::ReaderOptions options;
  options.traversalLimitInWords = traversal_for(body_words.size());
  options.nestingLimit = 8;
  Tx tx;
  try {
    capnp::SegmentArrayMessageReader reader(kj::arrayPtr(&seg, 1), options);
    if (!reader.isCanonical()) return Result<Tx>::error(fail(Error::kNotCanonical, "transaction body is not in canonical form; re-encode it with capnp canonicalize"));
    Status s = read_body(reader.getRoot<wire::TxBody>(), params, tx.body);
    if (!s.ok()) return Result<Tx>::error(std::move(s));
  } catch (const kj::Exception& e) {
    return Result<Tx>::error(fail(Error::kMalformed, std::string("transaction body: ") + bc::wire::to_string(bc::wire::classify(e))));
  }
  tx.body_bytes.assign(body_words.begin(), body_words.end());
  tx.signature = sig;
  tx.digest = tx_tag().hash(tx.body_bytes);
  tx.id = tx_id_of(tx.digest, tx.signature);
  tx.sender = address_of(tx.body.sender);
  tx.wire_size = wire_size;
  return Result<Tx>::of(std::move(tx));
}

Result<Tx> decode_tx(ByteView data, const ChainParams& params) {
  if (data.size() > params.max_tx_bytes)
    return Result<Tx>::error(fail(Error::kOversized, "transaction of " + std::to_string(data.size()) + " bytes, at most " +
                                                         std::to_string(params.max_tx_bytes)));
  Bytes body;
  Signature sig;
  bc::wire::DecodeLimits limits{.max_bytes = params.max_tx_bytes, .traversal_words = traversal_for(data.size()), .nesting = 4, .max_segments = 1};
  Status status;
  auto err = bc::wire::decode<wire::SignedTx>(data, limits, [&](wire::SignedTx::Reader r) {
    auto b = r.getBody();
    body.assign(b.begin(), b.end());
    if (!copy_fixed(r.getSignature(), sig.bytes)) status = fail(Error::kMalformed, "signature must be 64 bytes");
  });
  if (err != bc::wire::DecodeError::kOk) {
    Error code = err == bc::wire::DecodeError::kOversized ? Error::kOversized : Error::kMalformed;
    return Result<Tx>::error(fail(code, std::string("transaction: ") + bc::wire::to_string(err)));
  }
  if (!status.ok()) return Result<Tx>::error(std::move(status));
  return decode_tx_parts(body, sig, data.size(), params);
}

Status check_tx_context_free(const Tx& tx, const ChainParams& params) {
  const TxBody& b = tx.body;
  if (b.chain_id != params.chain_id)
    return fail(Error::kWrongChain, "transaction for chain '" + b.chain_id + "', this is '" + params.chain_id + "'");
  if (tx.wire_size > params.max_tx_bytes)
    return fail(Error::kOversized, "transaction of " + std::to_string(tx.wire_size) + " bytes, at most " + std::to_string(params.max_tx_bytes));
  if (b.fee < params.min_fee)
    return fail(Error::kFeeTooLow, "fee " + std::to_string(b.fee) + " below the minimum " + std::to_string(params.min_fee));
  auto zero = [&](Amount a, const char* what) {
    return a == 0 ? fail(Error::kZeroAmount, std::string(what) + " amount must be greater than zero") : Status{};
  };
  if (auto* t = std::get_if<Transfer>(&b.payload)) return zero(t->amount, "transfer");
  if (auto* t = std::get_if<Bond>(&b.payload)) return zero(t->amount, "bond");
  if (auto* t = std::get_if<Unbond>(&b.payload)) return zero(t->amount, "unbond");
  if (auto* t = std::get_if<EscrowOpen>(&b.payload)) return zero(t->amount, "escrow");
  if (auto* t = std::get_if<EscrowTopUp>(&b.payload)) {
    if (t->amount == 0 && t->expires_at == 0) return fail(Error::kZeroAmount, "top-up adds neither funds nor time");
  }
  if (auto* r = std::get_if<RegisterService>(&b.payload)) {
    if (r->name.empty() || r->name.size() > kMaxServiceName)
      return fail(Error::kBadServiceName, "service name must be 1 to 64 bytes");
  }
  if (auto* o = std::get_if<PosOffer>(&b.payload)) return check_offer_fields(o->offer);
  if (auto* r = std::get_if<PosReport>(&b.payload)) {
    if (!pos::verify_report(r->report).ok())
      return fail(Error::kBadReport, "report is not signed by its auditor key " + to_hex(r->report.auditor.view()));
  }
  if (auto* c = std::get_if<EscrowClaim>(&b.payload)) {
    if (c->receipts.empty()) return fail(Error::kBadReceipt, "claim carries no usage receipt");
    if (c->receipts.size() > params.max_receipts)
      return fail(Error::kOversized, std::to_string(c->receipts.size()) + " receipts, at most " + std::to_string(params.max_receipts));
  }
  return {};
}

bool verify_tx_signature(const Tx& tx) { return verify(tx.body.sender, tx.digest, tx.signature); }

// ---- small helpers from types.hpp --------------------------------------------

Address address_of(const XOnlyPubKey& key) {
  static const Tag tag("blockcloud/account/v1");
  return tag.hash(key.view());
}
std::string address_text(const Address& addr) { return id_to_text('a', addr); }

std::uint64_t be64_load(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
void be64_store(std::uint8_t* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<std::uint8_t>(v);
    v >>= 8;
  }
}
void append_be64(Bytes& out, std::uint64_t v) {
  std::uint8_t b[8];
  be64_store(b, v);
  out.insert(out.end(), b, b + 8);
}
std::uint32_t be32_load(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}
void append_be32(Bytes& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

}  // namespace bc::ledger

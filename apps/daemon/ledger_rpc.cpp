// The ledger's JSON-RPC methods (docs/ledger.md, "JSON-RPC methods"): each
// runs on the ledger thread, which owns the state a commit may be changing;
// ledger_status adds the sync core's view on the io thread.
#include <map>

#include <boost/json.hpp>

#include "apps/common/ledger_json.hpp"
#include "apps/daemon/detail/ledger_node_impl.hpp"
#include "apps/daemon/pos_rpc.hpp"
#include "layers/ids.hpp"
#include "ledger/invariants.hpp"
#include "ledger/validators.hpp"

namespace bc::apps {
namespace json = boost::json;
using namespace bc::ledger;

using node::Params;
using node::Reply;
using node::RpcError;

namespace {
constexpr int kTxRejected = -32010;  // the ledger refused the transaction (message says why)
constexpr int kNotFound = -32004;
constexpr int kNotMiner = -32011;  // miner_status / miner_reports on a node that does not audit

Hash256 need_hash(const Params& p, const char* name) {
  constexpr const char* kExpect = "give the hash as 64 hex digits";
  auto h = Hash256::from_hex(p.string(name, kExpect));
  if (!h) p.fail(name, "not 64 hex digits", kExpect);
  return *h;
}
}  // namespace

json::value LedgerNode::Impl::head_json() const {
  const auto& h = ledger->head();
  return json::object{{"height", h.height},
                      {"hash", h.hash.hex()},
                      {"state_root", h.state_root.hex()},
                      {"time_ms", h.time},
                      {"chain_id", ledger->params().chain_id},
                      {"block_interval_ms", ledger->params().block_interval_ms},
                      {"min_fee", std::to_string(ledger->params().min_fee)}};
}

// send_tx: decoding and the signature on a check worker (the answer to a
// malformed or badly signed tx comes from there), the rest on the ledger
// thread. The answers are those of one pass in the order decode, committed,
// mempool: a tx that is committed or pending passed the worker's checks once.
void LedgerNode::Impl::send_tx(const Params& p, Reply reply) {
  Bytes bytes = p.hex("tx", "give the signed transaction as hex (blockcloud-cli send builds it)");
  checks->check_bytes(std::move(bytes), [this, reply = std::move(reply)](Result<Tx> tx) {
    if (!tx.ok())
      return post_io([reply, why = tx.status().text()] { reply.fail(kTxRejected, "transaction refused: " + why); });
    ledger_rpc(reply, [this, tx = std::move(*tx)] {
      std::vector<Tx> admitted;
      auto result = admit_checked(tx, admitted);
      gossip_admitted(std::move(admitted));
      return result;
    });
  });
}

// send_txs: send_tx for a batch, so a client with many transactions pays
// one call, one HTTP round trip and one ledger-thread hop for all of them.
// Each is checked on the workers and admitted on its own, in the given
// order (one account's nonces may follow each other in a batch).
void LedgerNode::Impl::send_txs(const Params& p, Reply reply) {
  const std::string expect = "give txs as an array of 1 to " + std::to_string(kMaxTxBatch) +
                             " signed transactions, each as hex (blockcloud-cli send builds one)";
  const auto* txs = p.raw().if_contains("txs");
  if (!txs || !txs->is_array()) p.fail("txs", "missing or not an array", expect);
  const auto& list = txs->as_array();
  if (list.empty() || list.size() > kMaxTxBatch) p.fail("txs", std::to_string(list.size()) + " entries", expect);
  std::vector<Bytes> bytes;
  bytes.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto b = list[i].is_string() ? from_hex(list[i].as_string()) : std::nullopt;
    if (!b) p.fail("txs", "entry " + std::to_string(i) + " is not a hex string", expect);
    bytes.push_back(std::move(*b));
  }
  auto batch = std::make_shared<CheckedBatch>(bytes.size(), std::move(reply));
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    checks->check_bytes(std::move(bytes[i]), [this, batch, i](Result<Tx> tx) {
      batch->checked[i].emplace(std::move(tx));
      // The last check to finish hands the batch to the ledger thread; the
      // acq_rel decrement orders every worker's write before that read.
      if (batch->left.fetch_sub(1, std::memory_order_acq_rel) == 1)
        ledger_rpc(batch->reply, [this, batch] { return admit_batch(*batch); });
    });
  }
}

// Ledger thread: each checked tx admitted as send_tx would; one answer per
// tx, {"id", "status"} or {"error"} (with "id" once the tx decoded).
json::value LedgerNode::Impl::admit_batch(CheckedBatch& batch) {
  json::array results;
  std::vector<Tx> admitted;
  for (auto& checked : batch.checked) {
    const Result<Tx>& tx = *checked;
    if (!tx.ok()) {
      results.push_back(json::object{{"error", "transaction refused: " + tx.status().text()}});
      continue;
    }
    try {
      results.push_back(admit_checked(*tx, admitted));
    } catch (const RpcError& e) {
      results.push_back(json::object{{"id", tx->id.hex()}, {"error", e.what()}});
    }
  }
  gossip_admitted(std::move(admitted));
  return json::object{{"results", std::move(results)}};
}

// Ledger thread: the stateful half (its signature is in the cache by now).
// A tx new to the mempool is appended to `admitted` for gossip.
json::value LedgerNode::Impl::admit_checked(const Tx& tx, std::vector<Tx>& admitted) {
  const Hash256 id = tx.id;
  // Only a tx whose nonce its sender's account has passed can be committed,
  // so the index (a LevelDB read on the ledger thread, as costly here as
  // indexing a committed tx) is asked only then; the answers are the same.
  const Account* sender = ledger->state().account(tx.sender);
  if (sender && tx.body.nonce < sender->nonce && index->height_of(id))
    throw RpcError(kTxRejected, "transaction refused: already_known: " + id.hex() + " is already committed");
  const auto s = mempool.add(tx, *ledger);
  if (!s.ok() && s.code != Error::kAlreadyKnown) throw RpcError(kTxRejected, "transaction refused: " + s.text());
  if (s.ok()) admitted.push_back(tx);
  return json::object{{"id", id.hex()}, {"status", "pending"}};
}

// Hands newly admitted txs to the sync core (on the io thread) for gossip.
void LedgerNode::Impl::gossip_admitted(std::vector<Tx> admitted) {
  if (admitted.empty()) return;
  post_io([this, admitted = std::move(admitted)] {
    input([&](TimeMs now, Outbox& out) { sync->handle_txs_admitted(admitted, std::nullopt, now, out); });
  });
}

json::value LedgerNode::Impl::get_tx(const Params& p) {
  const Hash256 id = need_hash(p, "id");
  json::object o{{"id", id.hex()}};
  if (auto h = index->height_of(id)) {
    o["status"] = "committed";
    o["height"] = *h;
    if (auto b = ledger->block_at(*h)) {
      auto block = decode_block(*b, ledger->params());
      if (block.ok()) {
        o["block_hash"] = header_hash(block->header).hex();
        for (const auto& t : block->txs)
          if (t.id == id) o["tx"] = tx_json(t);
      }
    }
    o["confirmations"] = ledger->head().height - *h + 1;
  } else if (mempool.contains(id)) {
    o["status"] = "pending";
  } else if (auto d = drops.find(id); d != drops.end()) {
    o["status"] = "dropped";
    o["reason"] = d->second;
  } else {
    o["status"] = "unknown";
  }
  return o;
}

json::value LedgerNode::Impl::get_block(const Params& p) {
  std::optional<Bytes> bytes;
  constexpr const char* kHeightExpect = "give a height >= 0 or \"latest\"";
  if (const auto* h = p.raw().if_contains("height")) {
    if (h->is_string() && h->as_string() == "latest") bytes = ledger->block_at(ledger->head().height);
    else bytes = ledger->block_at(p.u64("height", kHeightExpect));
    if (!bytes)
      throw RpcError(kNotFound, "no block at that height; the head is " + std::to_string(ledger->head().height));
  } else if (p.has("hash")) {
    bytes = ledger->block_by_hash(need_hash(p, "hash"));
    if (!bytes) throw RpcError(kNotFound, "no block with that hash on this node");
  } else {
    p.fail("height", "missing", "give height (a number or \"latest\") or hash (64 hex digits)");
  }
  auto block = decode_block(*bytes, ledger->params());
  if (!block.ok()) throw RpcError(-32603, "stored block does not decode: " + block.status().text());
  auto o = block_json(*block);
  o["size"] = bytes->size();
  if (auto c = ledger->certificate_at(block->header.height))  // a certified chain: who finalised it
    o["certificate"] = json::object{{"round", c->round}, {"signers", c->precommits.size()}};
  return o;
}

json::value LedgerNode::Impl::get_escrow(const Params& p) {
  const Hash256 id = need_hash(p, "id");
  const Escrow* e = ledger->state().escrow(id);
  if (!e)
    throw RpcError(kNotFound, "no escrow " + id.hex() + " on this node's ledger (never opened, or closed; or wait for its block)");
  return json::object{{"id", id.hex()},
                      {"client", address_text(e->client)},
                      {"provider", address_text(e->provider)},
                      {"deposited", std::to_string(e->deposited)},
                      {"claimed", std::to_string(e->claimed)},
                      {"expires_at", e->expires_at},
                      {"height", ledger->head().height}};
}

// The supply totals and whether the head state conserves them
// (check_supply walks every entry: for tests and audits, not for polling).
json::value LedgerNode::Impl::get_supply(const Params&) {
  const Supply& s = ledger->state().supply();
  const std::string why = check_supply(ledger->state());
  return json::object{{"height", ledger->head().height},
                      {"minted", std::to_string(s.minted)},
                      {"burned", std::to_string(s.burned)},
                      {"conserved", why.empty()},
                      {"problem", why}};
}

json::value LedgerNode::Impl::get_account(const Params& p) {
  constexpr const char* kExpect = "give an account address (a... with a valid checksum) or 64 hex digits";
  const auto text = p.string("address", kExpect);
  auto addr = parse_address(text);
  if (!addr) p.fail("address", "\"" + text + "\" is not an account address", kExpect);
  const bool want_proof = p.opt_bool("proof", "give proof as true or false").value_or(false);
  json::object o{{"address", address_text(*addr)}, {"height", ledger->head().height},
                 {"state_root", ledger->head().state_root.hex()}};
  auto acc = ledger->account(*addr);
  o["exists"] = acc.has_value();
  const Account a = acc.value_or(Account{});
  o["balance"] = std::to_string(a.balance);
  o["nonce"] = a.nonce;
  o["bonded"] = std::to_string(a.bonded);
  if (want_proof) {
    auto pr = ledger->prove_account(*addr);
    json::array sib;
    for (const auto& s : pr.proof.siblings) sib.push_back(json::value(s.hex()));
    json::object proof{{"siblings", std::move(sib)}, {"encoded", to_hex(pr.proof.encode())},
                       {"verified", verify_account_proof(pr.state_root, *addr, pr.account, pr.proof)}};
    if (pr.proof.other_leaf)
      proof["other_leaf"] = json::object{{"key", pr.proof.other_leaf->first.hex()},
                                         {"value_hash", pr.proof.other_leaf->second.hex()}};
    else
      proof["other_leaf"] = nullptr;
    o["proof"] = std::move(proof);
    o["state_root"] = pr.state_root.hex();
    o["height"] = pr.height;
  }
  return o;
}

// validators: every registered validator with its status and stake, and
// the committee that certifies the next block (docs/staking.md).
json::value LedgerNode::Impl::validators(const Params&) {
  const std::uint64_t next = ledger->head().height + 1;
  const Committee* committee = ledger->committee_for(next);
  std::map<Address, Amount> power;
  json::array members;
  Amount total = 0;
  if (committee) {
    for (const auto& m : committee->members) {
      power[m.address] = m.power;
      total += m.power;
      members.push_back(json::object{{"address", address_text(m.address)},
                                     {"consensus_key", to_hex(m.consensus_key.view())},
                                     {"power", std::to_string(m.power)}});
    }
  }
  json::array all;
  for (const auto& [addr, v] : ledger->state().validators()) {
    const auto it = power.find(addr);
    all.push_back(json::object{{"address", address_text(addr)},
                               {"consensus_key", to_hex(v.consensus_key.view())},
                               {"status", validator_status_name(v.status)},
                               {"jailed_until", v.jailed_until},
                               {"bonded", std::to_string(ledger->account(addr).value_or(Account{}).bonded)},
                               {"power", it == power.end() ? std::string("0") : std::to_string(it->second)},
                               {"missed", v.missed},
                               {"tracked", v.tracked},
                               {"audit_reports", v.audit_record.reports},
                               {"audit_disagreed", pos::disagreements(v.audit_record)},
                               {"audit_fees_withheld", pos::withholds_fees(v.audit_record)}});
  }
  const auto& params = ledger->params();
  return json::object{{"height", ledger->head().height},
                      {"certified", ledger->certified()},
                      {"next_height", next},
                      {"epoch", committee ? json::value(committee->epoch) : json::value(nullptr)},
                      {"epoch_length", params.epoch_length},
                      {"total_power", std::to_string(total)},
                      {"committee", std::move(members)},
                      {"validators", std::move(all)}};
}

// validator_status: the committee core's view, or why this node follows.
json::value LedgerNode::Impl::validator_status() const {
  if (bft) return bft->status();
  json::object o{{"validator", false}, {"running", false}, {"head", ledger->head().height}};
  const Membership m = validator_membership(*ledger, key.public_key());
  o["why"] = !cfg.bft && ledger->certified() ? "validating is turned off (--no-validator)"
             : m.member ? "this node's key is in the committee; it starts validating at the next commit"
                        : m.why;
  return o;
}

// ledger_status: the ledger's part (ledger thread) ...
json::value LedgerNode::Impl::status_json() const {
  json::object o = head_json().as_object();
  o["genesis_hash"] = ledger->genesis_hash().hex();
  o["producer"] = producer != nullptr;
  o["block_interval_ms"] = cfg.block_interval_ms;
  o["mempool_txs"] = mempool.size();
  o["mempool_bytes"] = mempool.bytes();
  o["tx_index_height"] = index->indexed_height();
  return o;
}

// ... and the sync core's (io thread).
void LedgerNode::Impl::add_sync_status(json::object& o) const {
  o["connections"] = net ? net->connections() : 0;
  json::array peers;
  for (const auto& pv : sync->peers())
    peers.push_back(json::object{{"conn", pv.id}, {"height", pv.height}, {"hello", pv.hello}, {"outbound", pv.outbound}});
  o["peers"] = std::move(peers);
  o["best_peer_height"] = sync->best_peer_height();
  const auto& st = sync->stats();
  o["sync"] = json::object{{"blocks_applied", st.blocks_applied}, {"blocks_rejected", st.blocks_rejected},
                           {"blocks_served", st.blocks_served},     {"blocks_superseded", st.blocks_superseded},
                           {"malformed", st.malformed},             {"genesis_mismatch", st.genesis_mismatch},
                           {"hello_timeouts", st.hello_timeouts},   {"idle_timeouts", st.idle_timeouts},
                           {"request_timeouts", st.request_timeouts}, {"bad_answers", st.bad_answers},
                           {"refused_banned", st.refused_banned},   {"txs_gossiped_in", st.txs_gossiped_in},
                           {"txs_admitted_from_peers", st.txs_admitted_from_peers},
                           {"tx_batches_in", st.tx_batches_in},     {"tx_batches_out", st.tx_batches_out},
                           {"txs_malformed", st.txs_malformed}};
}

// The miner's answer, or why this node runs none.
json::value LedgerNode::Impl::miner_call(const std::function<json::value(const MinerNode&)>& fn) const {
  if (miner) return fn(*miner);
  const char* why = !cfg.bft        ? "this node does not validate (--no-validator), so it does not audit"
                    : !cfg.miner    ? "auditing is off (--no-audit or [ledger] audit = false)"
                                    : "the chain is not certified (no validators in its genesis): there are no miners";
  throw RpcError(kNotMiner, std::string("no miner on this node: ") + why);
}

// Every ledger method runs on the ledger thread (it reads state a commit may
// be changing); ledger_status adds the sync core's view on the io thread.
void LedgerNode::Impl::register_rpc(node::RpcRegistry& rpc) {
  auto* i = this;
  auto on_ledger = [&rpc, i](const char* name, json::value (Impl::*method)(const Params&)) {
    rpc.add_async(name, [i, method](const Params& p, Reply reply) {
      i->ledger_rpc(std::move(reply), [i, method, p] { return (i->*method)(p); });
    });
  };
  rpc.add_async("send_tx", [i](const Params& p, Reply reply) { i->send_tx(p, std::move(reply)); });
  rpc.add_async("send_txs", [i](const Params& p, Reply reply) { i->send_txs(p, std::move(reply)); });
  on_ledger("get_tx", &Impl::get_tx);
  on_ledger("get_block", &Impl::get_block);
  on_ledger("get_account", &Impl::get_account);
  on_ledger("get_escrow", &Impl::get_escrow);
  on_ledger("get_supply", &Impl::get_supply);
  on_ledger("validators", &Impl::validators);
  rpc.add_async("validator_status",
                [i](const Params&, Reply reply) { i->ledger_rpc(std::move(reply), [i] { return i->validator_status(); }); });
  register_pos_rpc(rpc, [i](Reply r, LedgerRead read) { i->ledger_rpc(std::move(r), [i, read] { return read(*i->ledger); }); });
  rpc.add_async("miner_status", [i](const Params&, Reply reply) {
    i->ledger_rpc(std::move(reply), [i] { return i->miner_call([](const MinerNode& m) { return m.status(); }); });
  });
  rpc.add_async("miner_reports", [i](const Params& p, Reply reply) {
    const auto limit = p.opt_u64("limit", "how many of the newest reports, 1..256", 1, 256).value_or(32);
    i->ledger_rpc(std::move(reply), [i, limit] { return i->miner_call([limit](const MinerNode& m) { return m.reports(limit); }); });
  });
  rpc.add_async("head", [i](const Params&, Reply reply) { i->ledger_rpc(std::move(reply), [i] { return i->head_json(); }); });
  rpc.add_async("ledger_status", [i](const Params&, Reply reply) {
    i->post_ledger([i, reply = std::move(reply)] {
      json::object o = i->status_json().as_object();
      i->post_io([i, reply, o = std::move(o)]() mutable {
        i->add_sync_status(o);
        reply.ok(std::move(o));
      });
    });
  });
}

}  // namespace bc::apps

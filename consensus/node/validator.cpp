#include "consensus/node/validator.hpp"

#include <algorithm>

#include "layers/assert.hpp"

namespace bc::consensus {
namespace {
// An input's writes as one: the last value of each key, synced if any write
// was. Nothing of the input leaves before all of them are durable, so the
// states in between (the record of a proposal before that of the prevote
// signed in the same input) never need to be on disk: one sync, not one
// per write.
StoreWrite coalesce(std::vector<StoreWrite> writes) {
  StoreWrite one{{}, false};
  for (auto& w : writes) {
    one.sync = one.sync || w.sync;
    for (auto& op : w.ops) {
      auto same = std::find_if(one.ops.begin(), one.ops.end(), [&](const StoreWrite::Op& o) { return o.key == op.key; });
      if (same != one.ops.end()) *same = std::move(op);
      else one.ops.push_back(std::move(op));
    }
  }
  return one;
}
}  // namespace

Result<std::unique_ptr<Validator>> Validator::create(bft::BftOptions options, ledger::Ledger& ledger,
                                                     ledger::Mempool& mempool, std::optional<KeyPair> key,
                                                     std::unique_ptr<CoreStore> store, LedgerApplication::Clock clock) {
  BC_ASSERT(store != nullptr);
  // A follower never proposes; its Application still needs a key to hold.
  // Half of timeout_propose(0) for building a proposal: the other half for
  // its record's sync, the network and the validators' queues.
  const TimeMs budget_ms = options.propose_ms / 2;
  // The ledger's synced commit of each decision, in the same step and before
  // the step's frames leave (run below), is the durable record of it.
  options.record_decisions = false;
  auto app = std::make_unique<LedgerApplication>(ledger, mempool, key.value_or(KeyPair::generate()), std::move(clock),
                                                 budget_ms);
  std::unique_ptr<Validator> v(new Validator(std::move(options), ledger, std::move(key), std::move(store), std::move(app)));
  if (Status s = v->commit_recorded_decision(); !s.ok()) return s;
  if (Status s = v->make_core(); !s.ok()) return s;
  return Result<std::unique_ptr<Validator>>(std::move(v));
}

// A core that records its decisions (kDecidedKey) writes one before the
// ledger commits it, and a crash between the two leaves the block only in
// the record. This Validator's cores do not (the ledger's commit is the
// record), but a store written by one that did may hold such a block.
Status Validator::commit_recorded_decision() {
  auto bytes = store_->get(bft::kDecidedKey);
  if (!bytes) return {};
  auto m = bft::decode(*bytes, options_.limits);
  if (!m.ok() || !std::holds_alternative<bft::CommitCertificate>(*m))
    return fail(make_error_code(Errc::kCorrupt), "the decided record in " + store_->where() +
                                                     " does not decode; remove that file to start from the ledger's head");
  const auto& cert = std::get<bft::CommitCertificate>(*m);
  if (cert.height != ledger_.head().height + 1) return {};
  return app_->commit_decided(bft::Decided{cert.height, bft::Value{cert.value_hash, cert.value}, cert});
}

// A core at the ledger's head + 1: its decided record is the head's stored
// certificate, its signer record the store's.
Status Validator::make_core() {
  bft::Recovery recovery{store_->get(bft::kSignerKey), std::nullopt};
  const std::uint64_t head = ledger_.head().height;
  if (head > 0) {
    auto cert = app_->certificate(head);
    if (!cert) return fail(make_error_code(Errc::kCorrupt), "the ledger holds no certificate for its head " + std::to_string(head));
    recovery.decided_record = bft::encode(*cert);
  }
  auto core = bft::BftCore::create(options_, *app_, key_, recovery, &ledger_.sig_cache());
  if (!core.ok()) return core.status();
  core_ = std::move(*core);
  return {};
}

template <typename Fn>
ValidatorStep Validator::run(Fn&& fn) {
  ValidatorStep step;
  Outbox out;
  fn(out);
  if (!out.writes.empty()) {
    step.fatal = store_->apply(coalesce(std::move(out.writes)));
    if (!step.fatal.ok()) return step;  // nothing leaves that the store does not cover
  }
  step.frames = std::move(out.frames);
  step.disconnects = std::move(out.disconnects);
  while (auto event = core_->poll_event()) {
    if (const auto* found = std::get_if<bft::EvidenceFound>(&*event)) {
      app_->add_evidence(found->evidence);  // the core relays it; the pool takes it to a block
      continue;
    }
    const auto* decided = std::get_if<bft::Decided>(&*event);
    BC_ASSERT(decided != nullptr);  // BftEvent is Decided or EvidenceFound
    const bool fresh = decided->height > ledger_.head().height;
    step.fatal = app_->commit_decided(*decided);
    if (!step.fatal.ok()) return step;
    if (fresh) step.committed.push_back(decided->height);
  }
  return step;
}

ValidatorStep Validator::start(TimeMs now) {
  return run([&](Outbox& out) {
    core_->start(now, out);
    for (const auto& [id, p] : peers_) core_->on_peer_up(id, p.remote, p.outbound, now, out);
  });
}

ValidatorStep Validator::peer_up(PeerId peer, const Endpoint& remote, bool outbound, TimeMs now) {
  peers_[peer] = Peer{remote, outbound};
  return run([&](Outbox& out) { core_->on_peer_up(peer, remote, outbound, now, out); });
}

ValidatorStep Validator::frame(PeerId peer, ByteView bytes, TimeMs now) {
  return run([&](Outbox& out) { core_->on_frame(peer, bytes, now, out); });
}

ValidatorStep Validator::peer_down(PeerId peer, TimeMs now) {
  peers_.erase(peer);
  return run([&](Outbox& out) { core_->on_peer_down(peer, now, out); });
}

ValidatorStep Validator::tick(TimeMs now) {
  return run([&](Outbox& out) { core_->on_tick(now, out); });
}

ValidatorStep Validator::resync(TimeMs now) {
  if (core_->height() > ledger_.head().height) return {};
  if (Status s = make_core(); !s.ok()) return ValidatorStep{{}, {}, {}, std::move(s)};
  return start(now);
}

}  // namespace bc::consensus

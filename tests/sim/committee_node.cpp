#include "tests/sim/committee_node.hpp"

#include "layers/assert.hpp"

namespace bc::sim {

void PowerState::cut() {
  on = false;
  armed = false;
  if (ledger_env) ledger_env->crash();
}

Status SimCoreStore::apply(const StoreWrite& w) {
  if (!power_.on) return {};  // the power is out: the write never lands (nor does anything after it)
  const bool crash_now = power_.armed;
  if (crash_now && !power_.armed_write_lands) {
    power_.cut();
    return {};
  }
  BC_ASSERT(w.sync);  // the core syncs every record; an unsynced one would need a model of its own
  for (const auto& op : w.ops) {
    if (op.value) records_[op.key] = *op.value;
    else records_.erase(op.key);
  }
  if (crash_now) power_.cut();
  return {};
}

std::optional<Bytes> SimCoreStore::get(std::string_view key) const {
  auto it = records_.find(key);
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

CommitteeNode::CommitteeNode(CommitteeNodeConfig cfg) : cfg_(std::move(cfg)) {
  BC_ASSERT(cfg_.sim_clock != nullptr);
  power_.ledger_env = &env_;
}

std::string CommitteeNode::boot() {
  BC_ASSERT(!up());
  ledger::LedgerOptions lo;
  lo.dir = "/sim/committee/node" + std::to_string(cfg_.index);
  lo.genesis = cfg_.genesis;
  lo.verify_threads = 1;
  lo.sig_cache_entries = 1 << 12;
  lo.env = &env_;
  lo.check_invariants = false;  // the simulation checks them after every commit, with the seed in its report
  auto l = ledger::Ledger::open(std::move(lo));
  if (!l.ok()) return "the ledger does not reopen from its store: " + l.status().text();
  ledger_ = std::move(*l);
  mempool_ = std::make_unique<ledger::Mempool>();
  auto store = std::make_unique<SimCoreStore>(records_, power_, "node " + std::to_string(cfg_.index) + "'s core store");
  const std::uint64_t opened_at = ledger_->head().height;
  bft::BftOptions options = cfg_.options;
  options.chain_id = ledger_->genesis_hash();
  auto v = consensus::Validator::create(std::move(options), *ledger_, *mempool_, cfg_.key, std::move(store),
                                        [this] { return local_time(cfg_.sim_clock()); });
  if (!v.ok()) return "the validator does not start: " + v.status().text();
  validator_ = std::move(*v);
  committed_from_record_ = ledger_->head().height > opened_at;
  return {};
}

void CommitteeNode::crash() {
  if (power_.on) power_.cut();
  validator_.reset();
  mempool_.reset();
  ledger_.reset();  // closes the database: nothing more reaches its store
  env_.drop_unsynced();
  power_.on = true;
}

void CommitteeNode::arm_crash_at_write(bool write_lands) {
  power_.armed = true;
  power_.armed_write_lands = write_lands;
}

}  // namespace bc::sim

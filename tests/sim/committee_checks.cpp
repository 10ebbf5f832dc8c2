// The checks of the committee simulation (tests/sim/committee_sim.hpp).
#include <sstream>

#include "consensus/node/ledger_app.hpp"
#include "ledger/invariants.hpp"
#include "ledger/validators.hpp"
#include "tests/sim/committee_world.hpp"

namespace bc::sim {
namespace {

std::optional<ledger::BlockHeader> header_at(const ledger::Ledger& l, std::uint64_t height) {
  auto bytes = l.block_at(height);
  if (!bytes) return std::nullopt;
  auto shell = ledger::decode_block_shell(*bytes, l.params());
  if (!shell.ok()) return std::nullopt;
  return shell->header;
}

}  // namespace

void CommitteeWorld::fail(const std::string& what) {
  if (!result_.ok) return;
  result_.ok = false;
  std::ostringstream s;
  s << "seed " << result_.seed << " at +" << (loop_.now() - start_) << " ms: " << what
    << " (reproduce: BC_COMMITTEE_SEED=" << result_.seed << " test_sim -tc='committee*')";
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    CommitteeNode& n = *nodes_[i];
    s << "\n  node " << i << (roles_[i] ? " byzantine" : "") << " stake " << n.config().genesis.accounts[i].bonded
      << " skew " << n.config().skew_ms;
    if (!n.up()) {
      s << " down";
      continue;
    }
    const auto& core = n.validator().core();
    s << " ledger " << n.ledger().head().height << " core h" << core.height() << " r" << core.round() << " step "
      << static_cast<int>(core.step()) << " peers " << n.validator().peers() << " evidence "
      << n.validator().evidence().size() << " locked r" << core.lock().locked_round << " accepted "
      << core.stats().messages_accepted << " dup " << core.stats().duplicates << " stale " << core.stats().stale
      << " future " << core.stats().future << " served " << core.stats().certificates_served << " skips "
      << core.stats().rounds_skipped;
    for (const auto& [why, count] : core.stats().drops) s << " " << why << "=" << count;
  }
  result_.failure = s.str();
}

// After every commit of node i: its new blocks agree with every honest
// node's, keep the block time rule, and leave the ledger's invariants whole.
void CommitteeWorld::note_chain(int i) {
  ledger::Ledger& l = nodes_[i]->ledger();
  auto& mine = committed_[i];
  const std::uint64_t from = mine.empty() ? 1 : mine.rbegin()->first + 1;
  const TimeMs latest_time = loop_.now() + 1000 + ledger::LedgerOptions{}.max_future_ms;
  for (std::uint64_t h = from; h <= l.head().height; ++h) {
    auto header = header_at(l, h);
    if (!header) return fail("node " + std::to_string(i) + " reports block " + std::to_string(h) + " but cannot read it");
    const Hash256 hash = ledger::header_hash(*header);
    mine.emplace(h, hash);
    if (invalid_values_.count(hash)) return fail("node " + std::to_string(i) + " committed an invalid proposal at height " + std::to_string(h));
    if (header->time > latest_time)
      return fail("block " + std::to_string(h) + " has a time beyond every honest clock plus max_future_ms");
    if (!honest(i)) continue;
    auto [it, first] = honest_committed_.emplace(h, hash);
    if (!first && it->second != hash)
      return fail("SAFETY: honest nodes committed different blocks at height " + std::to_string(h));
    result_.max_height = std::max(result_.max_height, h);
  }
  const std::string who = "node " + std::to_string(i) + " at height " + std::to_string(l.head().height) + ": ";
  if (auto s = ledger::check_supply(l.state()); !s.empty()) return fail(who + s);
  if (auto s = ledger::check_staking(l.state()); !s.empty()) return fail(who + s);
  if (l.computed_root() != l.head().state_root) return fail(who + "the state tree's root is not the head's");
}

// After a restart: every block the node reported committed is still there.
void CommitteeWorld::check_restart(int i) {
  ledger::Ledger& l = nodes_[i]->ledger();
  for (const auto& [h, hash] : committed_[i]) {
    auto header = header_at(l, h);
    if (!header || ledger::header_hash(*header) != hash)
      return fail("node " + std::to_string(i) + " lost block " + std::to_string(h) +
                  " it had committed before its crash (its head after the restart: " +
                  std::to_string(l.head().height) + ")");
  }
  note_chain(i);
}

// The evidence oracle's input: a vote an honest node is about to take.
void CommitteeWorld::snoop(int to, const Bytes& frame, std::optional<VoteSlot>& seen) {
  auto m = bft::decode(frame, bft::CodecLimits{});
  if (!m.ok()) return;
  const bft::Vote* v = std::get_if<bft::Vote>(&*m);
  CommitteeNode& node = *nodes_[to];
  const auto& core = node.validator().core();
  if (!v || v->height != core.height()) return;
  const ledger::Committee* c = node.ledger().committee_for(v->height);
  const bool valid = c && ledger::find_member(*c, v->validator) &&
                     oracle_cache_.verify(v->validator, bft::vote_digest(*v), v->signature);
  seen = oracle_.observe(to, *v, valid, core.height(), core.round(), bft::BftOptions{}.future_rounds);
  if (seen && honest(node_of_key(v->validator))) fail("an honest validator signed two votes in one slot");
}

int CommitteeWorld::node_of_key(const XOnlyPubKey& key) const {
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i]->config().key.public_key() == key) return static_cast<int>(i);
  BC_UNREACHABLE("a vote of a key outside the committee passed the oracle's check");
}

std::uint64_t CommitteeWorld::honest_min_height() const {
  std::uint64_t h = UINT64_MAX;
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (honest(static_cast<int>(i))) h = std::min(h, nodes_[i]->up() ? nodes_[i]->ledger().head().height : 0);
  return h;
}

bool CommitteeWorld::liveness_held() const {
  return honest_min_height() >= height_at_fault_ + options_.heights_after_fault;
}

// Slashed and banned on every honest node's ledger.
bool CommitteeWorld::offender_banned(const XOnlyPubKey& key) {
  const auto& genesis = nodes_[node_of_key(key)]->config().genesis;
  const ledger::Amount bonded = genesis.accounts[static_cast<std::size_t>(node_of_key(key))].bonded;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!honest(static_cast<int>(i))) continue;
    if (!nodes_[i]->up()) return false;
    const ledger::State& s = nodes_[i]->ledger().state();
    const ledger::KeyOwner* owner = s.key_owner(key);
    const ledger::Validator* v = owner ? s.validator(owner->address) : nullptr;
    const auto account = owner ? nodes_[i]->ledger().account(owner->address) : std::nullopt;
    if (!v || v->status != ledger::Validator::Status::kBanned || !account || account->bonded >= bonded) return false;
  }
  return true;
}

bool CommitteeWorld::all_offenders_banned() {
  for (const auto& key : offenders_)
    if (!offender_banned(key)) return false;
  return true;
}

// Nobody is punished who did not equivocate.
void CommitteeWorld::check_punishments() {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!honest(static_cast<int>(i)) || !nodes_[i]->up()) continue;
    const ledger::Ledger& l = nodes_[i]->ledger();
    for (std::size_t j = 0; j < nodes_.size(); ++j) {
      const ledger::GenesisAccount& g = nodes_[j]->config().genesis.accounts[j];
      const ledger::Validator* v = l.state().validator(g.address);
      const auto account = l.account(g.address);
      const bool punished = (v && v->status == ledger::Validator::Status::kBanned) || !account || account->bonded < g.bonded;
      if (punished && !(roles_[j] && roles_[j]->equivocate))
        return fail("node " + std::to_string(i) + "'s ledger punished validator " + std::to_string(j) +
                    (roles_[j] ? ", a Byzantine one that never equivocated" : ", an honest one"));
    }
  }
}

void CommitteeWorld::check_end() {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!honest(static_cast<int>(i))) continue;
    const std::uint64_t have = nodes_[i]->up() ? nodes_[i]->ledger().head().height : 0;
    if (have < height_at_fault_ + options_.heights_after_fault)
      return fail("LIVENESS: node " + std::to_string(i) + " reached height " + std::to_string(have) + ", not " +
                  std::to_string(height_at_fault_ + options_.heights_after_fault) + " within " +
                  std::to_string(options_.liveness_bound_ms) + " ms of the last fault");
  }
  check_punishments();
  for (const auto& key : offenders_) {
    if (!result_.ok) return;
    if (!offender_banned(key))
      return fail("EVIDENCE: validator " + std::to_string(node_of_key(key)) +
                  " was seen equivocating but is not slashed and banned on every honest ledger within " +
                  std::to_string(options_.slash_bound_ms) + " ms");
    result_.offenders_banned++;
  }
  if (!nodes_[0]->up()) return;
  const ledger::Ledger& l = nodes_[0]->ledger();
  for (std::uint64_t h = 1; h <= l.head().height; ++h) {
    auto block = ledger::decode_block(*l.block_at(h), l.params());
    if (block.ok()) result_.txs += block->txs.size();
  }
}

}  // namespace bc::sim

// One validator of the simulated committee, the parts blockcloudd runs on
// its ledger thread: a consensus::Validator (BftCore + LedgerApplication)
// on a real ledger::Ledger whose LevelDB store is on a FaultEnv, a mempool,
// and the core's records (kSignerKey, kDecidedKey) in a SimCoreStore with
// FileStore's crash semantics: every write is durable when apply() returns.
//
// Power: crash() takes the node down at once; arm_crash_at_write() takes it
// down at its next core-store write, which lands or not (the seed says),
// the ledger's store losing everything unsynced at that same instant. The
// input under way then runs on with the power out (nothing more it writes
// reaches either store) and the driver drops what it would send. So a crash
// falls between any two durable writes: after the signer's record and
// before its vote leaves, or before the ledger commits a decided block (a
// core that records decisions would add: after the decided record and
// before that commit; the Validator's cores do not record them).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "consensus/node/core_store.hpp"
#include "consensus/node/validator.hpp"
#include "ledger/genesis.hpp"
#include "ledger/ledger.hpp"
#include "ledger/mempool.hpp"
#include "tests/sim/fault_env.hpp"

namespace bc::sim {

// What a node's power does; shared by the node and its core store.
struct PowerState {
  bool on = true;
  bool armed = false;             // the next core-store write takes the power down
  bool armed_write_lands = false; // ... after that write became durable
  FaultEnv* ledger_env = nullptr; // crashes with the core store
  void cut();
};

// The core's records: a map that keeps exactly what apply() made durable.
class SimCoreStore final : public consensus::CoreStore {
 public:
  SimCoreStore(std::map<std::string, Bytes, std::less<>>& records, PowerState& power, std::string name)
      : records_(records), power_(power), name_(std::move(name)) {}
  Status apply(const StoreWrite& w) override;
  std::optional<Bytes> get(std::string_view key) const override;
  std::string where() const override { return name_; }

 private:
  std::map<std::string, Bytes, std::less<>>& records_;
  PowerState& power_;
  std::string name_;
};

struct CommitteeNodeConfig {
  int index = 0;
  ledger::Genesis genesis;
  KeyPair key;
  bft::BftOptions options;  // chain_id is set from the ledger's genesis at boot
  TimeMs skew_ms = 0;  // this node's clock minus the simulation's
  std::function<TimeMs()> sim_clock;  // the simulation's time now
};

class CommitteeNode {
 public:
  explicit CommitteeNode(CommitteeNodeConfig cfg);

  // Opens the ledger from what its store kept and a Validator on it.
  // Empty on success, else what failed.
  std::string boot();
  // Down now: closes everything and drops what was not durable.
  void crash();
  void arm_crash_at_write(bool write_lands);
  bool up() const { return validator_ != nullptr; }
  // The last boot committed a block from the core's decided record: the
  // crash fell between that record and the ledger's commit.
  bool committed_from_record() const { return committed_from_record_; }
  // The power went out during the last input: the driver must crash() it.
  bool power_lost() const { return !power_.on; }

  TimeMs local_time(TimeMs sim_now) const { return sim_now + cfg_.skew_ms; }
  TimeMs sim_time(TimeMs local) const { return local == kNever ? kNever : local - cfg_.skew_ms; }
  const CommitteeNodeConfig& config() const { return cfg_; }
  consensus::Validator& validator() { return *validator_; }
  ledger::Ledger& ledger() { return *ledger_; }
  ledger::Mempool& mempool() { return *mempool_; }

 private:
  CommitteeNodeConfig cfg_;
  FaultEnv env_;
  std::map<std::string, Bytes, std::less<>> records_;  // the core store's durable part
  PowerState power_;
  bool committed_from_record_ = false;
  std::unique_ptr<ledger::Ledger> ledger_;
  std::unique_ptr<ledger::Mempool> mempool_;
  std::unique_ptr<consensus::Validator> validator_;
};

}  // namespace bc::sim

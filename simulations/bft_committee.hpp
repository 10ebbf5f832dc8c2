// The committee of `blockcloud-sim bft`: seeded keys, stakes, placements in
// the latency model and the crashed validators; the validator set of every
// height; and the Application each BftCore runs with.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "consensus/bft/core.hpp"
#include "simulations/bft_scenario.hpp"
#include "simulations/latency_model.hpp"

namespace bc::sim {

struct BftMember {
  KeyPair key;
  std::int64_t power = 1;
  LatencyModel::Placement at;
  bool live = true;
};

// Keys, stakes (opt.stakes) and placements from rng; then validators down
// from the start in opt.crash order (highest power first, or a seeded
// shuffle), each taken while the crashed power stays strictly below both
// opt.crash_power and 1/3 of the total (so the live power keeps +2/3).
std::vector<BftMember> make_committee(const BftSimOptions& opt, SimRng& rng, const LatencyModel& model);

// The validator set of every height: the genesis set advanced once per
// height, as the ledger hands it over within one epoch.
class SetHistory {
 public:
  explicit SetHistory(bft::ValidatorSet genesis) { sets_.push_back(std::move(genesis)); }
  const bft::ValidatorSet& at(std::uint64_t height);

 private:
  std::vector<bft::ValidatorSet> sets_;
};

// A proposed value: a 20-byte header (height, proposer's index in the
// committee, the proposal's virtual time in µs), zero padding up to
// block_bytes; its hash is sha256 of the bytes.
struct ValueHeader {
  std::uint64_t height = 0;
  std::uint32_t proposer = 0;
  std::int64_t proposed_us = 0;
};
inline constexpr std::size_t kValueHeaderBytes = 20;
std::optional<ValueHeader> read_header(const Bytes& value);

// The Application of one validator: sets from the shared history, values of
// block_bytes stamped with the driver's clock, and the check that a value is
// such a value for the height. Certificates of old heights are not kept:
// BftCore's own memory (retained_certificates) covers what live peers lag.
class SimApp final : public bft::Application {
 public:
  SimApp(SetHistory& sets, std::uint32_t self, std::uint32_t committee, std::uint32_t block_bytes,
         const std::int64_t& clock_us)
      : sets_(sets), self_(self), committee_(committee), block_bytes_(block_bytes), clock_us_(clock_us) {}
  std::optional<bft::ValidatorSet> validators(std::uint64_t height) override;
  bft::Value propose_value(std::uint64_t height, TimeMs now) override;
  bool valid_value(std::uint64_t height, const bft::Value& value) override;
  std::optional<bft::CommitCertificate> certificate(std::uint64_t) override { return std::nullopt; }

 private:
  SetHistory& sets_;
  std::uint32_t self_, committee_, block_bytes_;
  const std::int64_t& clock_us_;
};

}  // namespace bc::sim

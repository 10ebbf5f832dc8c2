// Figures of a `blockcloud-sim bft` run: one sample per (height, validator)
// decision, block intervals, traffic, and the summary (text or JSON) and
// CSV made from them. Definitions: docs/consensus.md, "Simulation at scale".
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "simulations/bft_scenario.hpp"

namespace bc::sim {

struct BftSample {
  std::uint64_t height = 0;
  std::uint32_t validator = 0;
  std::uint32_t proposer = 0;      // of the decided value
  std::uint32_t round = 0;         // of its commit certificate
  std::int64_t latency_us = 0;     // decision - the value's proposal leaving its proposer
  std::int64_t floor_us = 0;       // simulations/bft_floor.hpp, for that proposer and validator
  std::int64_t from_start_us = 0;  // decision - the first live validator entering the height
};

// What the run was, for the summary's head line.
struct BftCommitteeInfo {
  std::uint32_t live = 0, crashed = 0;
  std::int64_t total_power = 0, crashed_power = 0;
};

class BftStats {
 public:
  BftStats(const BftSimOptions& opt, BftCommitteeInfo info) : opt_(opt), info_(info) {}

  void on_decision(const BftSample& s) { samples_.push_back(s); }
  void on_interval(std::int64_t us) { intervals_ms_.push_back(static_cast<double>(us) / 1000); }
  void on_frame(std::size_t bytes) {
    ++frames_;
    bytes_ += bytes;
  }
  void on_evidence() { ++evidence_; }
  void on_drops(std::uint64_t n) { drops_ += n; }
  void on_certificates_served(std::uint64_t n) { certificates_served_ += n; }
  // Messages a core set aside because they were for a height it had not entered yet.
  void on_future(std::uint64_t n) { future_ += n; }

  void progress_line(std::uint64_t height, double virtual_s) const;
  // JSON when opt.json, else a readable table.
  std::string render(double virtual_s, double wall_s, double rss_mib) const;
  // One row per sample; throws std::runtime_error if the file cannot be written.
  void write_csv(const std::string& file) const;

 private:
  const BftSimOptions& opt_;
  BftCommitteeInfo info_;
  std::vector<BftSample> samples_;
  std::vector<double> intervals_ms_;  // decision to next decision, per live validator
  std::uint64_t frames_ = 0, bytes_ = 0, evidence_ = 0, drops_ = 0, certificates_served_ = 0, future_ = 0;
};

}  // namespace bc::sim

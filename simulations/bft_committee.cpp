#include "simulations/bft_committee.hpp"

#include <algorithm>
#include <array>
#include <numeric>

#include "layers/assert.hpp"

namespace bc::sim {
namespace {

KeyPair seeded_key(SimRng& rng) {
  for (;;) {
    std::array<std::uint8_t, 32> secret{};
    for (std::size_t i = 0; i < secret.size(); i += 8) {
      const std::uint64_t v = rng.next();
      for (std::size_t b = 0; b < 8; ++b) secret[i + b] = static_cast<std::uint8_t>(v >> (8 * b));
    }
    if (auto k = KeyPair::from_secret(ByteView(secret.data(), secret.size()))) return *k;
  }
}

std::vector<std::size_t> crash_order(const BftSimOptions& opt, const std::vector<BftMember>& members, SimRng& rng) {
  std::vector<std::size_t> order(members.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (opt.crash == "top") {
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return members[a].power > members[b].power; });
  } else {
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.uniform(i)]);
  }
  return order;
}

void crash_some(const BftSimOptions& opt, std::vector<BftMember>& members, SimRng& rng) {
  if (opt.crash == "none") return;
  std::int64_t total = 0;
  for (const BftMember& m : members) total += m.power;
  const double cap = opt.crash_power * static_cast<double>(total);
  std::int64_t crashed = 0;
  for (std::size_t i : crash_order(opt, members, rng)) {
    const std::int64_t after = crashed + members[i].power;
    if (3 * after >= total || static_cast<double>(after) >= cap) continue;  // a smaller one may still fit
    members[i].live = false;
    crashed = after;
  }
  BC_ASSERT(3 * crashed < total);
}

}  // namespace

std::vector<BftMember> make_committee(const BftSimOptions& opt, SimRng& rng, const LatencyModel& model) {
  std::vector<BftMember> members;
  members.reserve(opt.validators);
  for (std::uint32_t i = 0; i < opt.validators; ++i) {
    BftMember m{seeded_key(rng), 1, model.place(rng), true};
    if (opt.stakes == "random") m.power = 1 + static_cast<std::int64_t>(rng.uniform(1000));
    members.push_back(std::move(m));
  }
  crash_some(opt, members, rng);
  return members;
}

const bft::ValidatorSet& SetHistory::at(std::uint64_t height) {
  BC_ASSERT(height >= 1);
  while (sets_.size() < height) sets_.push_back(sets_.back().advanced(1));
  return sets_[height - 1];
}

namespace {
void put_le(Bytes& out, std::size_t at, std::uint64_t v, std::size_t n) {
  for (std::size_t b = 0; b < n; ++b) out[at + b] = static_cast<std::uint8_t>(v >> (8 * b));
}
std::uint64_t get_le(const Bytes& in, std::size_t at, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t b = 0; b < n; ++b) v |= std::uint64_t{in[at + b]} << (8 * b);
  return v;
}
}  // namespace

std::optional<ValueHeader> read_header(const Bytes& value) {
  if (value.size() < kValueHeaderBytes) return std::nullopt;
  return ValueHeader{get_le(value, 0, 8), static_cast<std::uint32_t>(get_le(value, 8, 4)),
                     static_cast<std::int64_t>(get_le(value, 12, 8))};
}

std::optional<bft::ValidatorSet> SimApp::validators(std::uint64_t height) {
  if (height == 0) return std::nullopt;
  return sets_.at(height);
}

bft::Value SimApp::propose_value(std::uint64_t height, TimeMs) {
  BC_ASSERT(block_bytes_ >= kValueHeaderBytes);
  bft::Value v;
  v.bytes.assign(block_bytes_, 0);
  put_le(v.bytes, 0, height, 8);
  put_le(v.bytes, 8, self_, 4);
  put_le(v.bytes, 12, static_cast<std::uint64_t>(clock_us_), 8);
  v.hash = sha256(v.bytes);
  return v;
}

bool SimApp::valid_value(std::uint64_t height, const bft::Value& value) {
  const auto h = read_header(value.bytes);
  return h && value.bytes.size() == block_bytes_ && h->height == height && h->proposer < committee_ &&
         h->proposed_us >= 0 && h->proposed_us <= clock_us_ && sha256(value.bytes) == value.hash;
}

}  // namespace bc::sim

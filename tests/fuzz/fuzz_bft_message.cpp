// libFuzzer target: hostile bytes -> the BFT codec -> a live BftCore.
//
// Checks that decode() never crashes and says why it refuses, that a decoded
// message re-encodes to one that decodes equal, that the checks of votes,
// proposals, certificates and evidence return a reason instead of crashing,
// that the signer-record decoder (bytes from disk) is bounded too, and that a
// running validator core takes any frame without breaking an invariant (its
// BC_ASSERTs are the oracle). The fuzzer cannot forge signatures, so most
// messages stop at the signature check; the codec and the early checks are
// what it explores.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "consensus/bft/core.hpp"

using namespace bc;
using namespace bc::bft;

namespace {

void require(bool ok) {
  if (!ok) __builtin_trap();
}

class FuzzApp final : public Application {
 public:
  explicit FuzzApp(ValidatorSet set) : set_(std::move(set)) {}
  std::optional<ValidatorSet> validators(std::uint64_t height) override {
    if (height == 0 || height > 1000) return std::nullopt;
    return set_;
  }
  Value propose_value(std::uint64_t, TimeMs) override {
    Value v{{}, Bytes{'v'}};
    v.hash = sha256(v.bytes);
    return v;
  }
  bool valid_value(std::uint64_t, const Value& v) override { return sha256(v.bytes) == v.hash; }
  std::optional<CommitCertificate> certificate(std::uint64_t) override { return std::nullopt; }

 private:
  ValidatorSet set_;
};

struct World {
  std::vector<KeyPair> keys;
  std::unique_ptr<FuzzApp> app;
  std::unique_ptr<BftCore> core;
  BftOptions options;
  TimeMs now = 1'000'000;

  World() {
    std::vector<Validator> members;
    for (int i = 0; i < 4; ++i) {
      std::array<std::uint8_t, 32> secret{};
      secret[0] = 3;
      secret[31] = static_cast<std::uint8_t>(i + 1);
      keys.push_back(*KeyPair::from_secret(secret));
      members.push_back({keys.back().public_key(), i + 1, 0});
    }
    app = std::make_unique<FuzzApp>(*ValidatorSet::genesis(members));
    auto c = BftCore::create(options, *app, keys[0], Recovery{});
    require(c.ok());
    core = std::move(*c);
    Outbox out;
    core->start(now, out);
    core->on_peer_up(1, Endpoint{}, true, now, out);
  }
};

World& world() {
  static World w;
  return w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input(data, size);
  const CodecLimits limits;
  auto m = decode(input, limits);
  if (!m.ok()) {
    require(!m.status().ok());
  } else {
    auto again = decode(encode(*m), limits);
    require(again.ok() && *again == *m);
    World& w = world();
    const ValidatorSet set = *w.app->validators(1);
    if (auto* v = std::get_if<Vote>(&*m)) (void)verify_vote(*v, set);
    if (auto* p = std::get_if<ProposalMsg>(&*m)) (void)verify_proposal(p->proposal, set);
    if (auto* c = std::get_if<CommitCertificate>(&*m)) (void)verify_certificate(*c, w.options.chain_id, set);
    if (auto* e = std::get_if<DuplicateVoteEvidence>(&*m)) (void)verify_evidence(*e, w.options.chain_id, set);
  }
  (void)decode_signer_record(input, limits);

  World& w = world();
  Outbox out;
  w.core->on_frame(1, input, w.now, out);
  w.now += 7;  // time moves so timeouts and gossip fire now and then
  if (w.core->next_wakeup() <= w.now) w.core->on_tick(w.now, out);
  while (w.core->poll_event()) {
  }
  return 0;
}

// An auditor's per-epoch secrets (docs/proof-of-service.md, "The auditor's
// secrets"): the probe secret s_e it commits to and reveals in its reports,
// and the seed reveal r_e it commits to and reveals in epoch e-1. Both are
// derived from the auditor's secret key, so a node recomputes them after a
// restart and nobody without the key can predict them.
#pragma once
#include <cstdint>
#include <string_view>

#include "layers/crypto.hpp"
#include "ledger/tx.hpp"

namespace bc::pos {

struct AuditorSecrets {
  Hash256 probe_secret;  // tagged_hash("blockcloud/pos-probe-secret/v1", sk || sha256(chain_id) || be64(epoch))
  Hash256 seed_reveal;   // tagged_hash("blockcloud/pos-seed-reveal/v1", the same input)
};

AuditorSecrets derive_auditor_secrets(const KeyPair& auditor, std::string_view chain_id, std::uint64_t epoch);

// The posCommit of `auditor` (its consensus key) for `epoch`.
ledger::PosCommit commit_for(const KeyPair& auditor, std::string_view chain_id, std::uint64_t epoch);
// The posReveal of the same seed reveal.
ledger::PosReveal reveal_for(const KeyPair& auditor, std::string_view chain_id, std::uint64_t epoch);

}  // namespace bc::pos

#include "consensus/pos/auditor_secrets.hpp"

#include <algorithm>

#include "layers/assert.hpp"
#include "ledger/pos/assign.hpp"
#include "ledger/pos/schedule.hpp"

namespace bc::pos {

namespace {

// sk || sha256(chain_id) || be64(epoch): fixed length (72 bytes), so no
// derivation input is an extension of another.
Bytes secret_input(const KeyPair& auditor, std::string_view chain_id, std::uint64_t epoch) {
  auto sk = from_hex(auditor.secret_hex());
  BC_ASSERT(sk && sk->size() == 32);
  Bytes in = std::move(*sk);
  const Hash256 chain = sha256(as_bytes(chain_id));
  in.insert(in.end(), chain.bytes.begin(), chain.bytes.end());
  ledger::append_be64(in, epoch);
  return in;
}

}  // namespace

AuditorSecrets derive_auditor_secrets(const KeyPair& auditor, std::string_view chain_id, std::uint64_t epoch) {
  Bytes in = secret_input(auditor, chain_id, epoch);
  AuditorSecrets s{tagged_hash("blockcloud/pos-probe-secret/v1", in), tagged_hash("blockcloud/pos-seed-reveal/v1", in)};
  std::fill(in.begin(), in.end(), 0);  // the key's copy does not outlive the call
  return s;
}

ledger::PosCommit commit_for(const KeyPair& auditor, std::string_view chain_id, std::uint64_t epoch) {
  const AuditorSecrets s = derive_auditor_secrets(auditor, chain_id, epoch);
  const XOnlyPubKey& k = auditor.public_key();
  return ledger::PosCommit{epoch, probe_commitment(s.probe_secret, k, epoch), seed_commitment(s.seed_reveal, k, epoch)};
}

ledger::PosReveal reveal_for(const KeyPair& auditor, std::string_view chain_id, std::uint64_t epoch) {
  return ledger::PosReveal{epoch, derive_auditor_secrets(auditor, chain_id, epoch).seed_reveal};
}

}  // namespace bc::pos

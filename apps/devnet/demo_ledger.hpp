// The demo's ledger steps on a certified chain: a transfer finalised by the
// committee of validators, and the chain going on after one is killed.
#pragma once
#include <optional>
#include <string>

#include "apps/devnet/devnet.hpp"
#include "layers/crypto.hpp"
#include "ledger/tx.hpp"

namespace bc::devnet {

// The head height `n` reports.
std::uint64_t height_of(const NodeEntry& n);
// The committed nonce of `key`'s account, as `via` sees it.
std::uint64_t account_nonce(const NodeEntry& via, const KeyPair& key);
// Signs `payload` with `key` at `nonce` (fee 1, the chain id `via` reports)
// and sends it through `via`; returns its id. Throws what the node answered.
std::string send_signed(const NodeEntry& via, const KeyPair& key, std::uint64_t nonce, ledger::TxPayload payload);
// Polls `where` until tx `id` is committed (at most `limit`); its height.
std::optional<std::uint64_t> await_commit(const NodeEntry& where, const std::string& id,
                                          std::chrono::milliseconds limit = std::chrono::seconds(15));

// Step 8: shows the committee, sends a transfer between two funded
// accounts through one node and waits until another node has it in a
// block with a commit certificate. Returns the number of checks that failed.
int demo_committee(const Devnet& net);

// After `killed` (a validator) is gone: waits until the chain finalises two
// more blocks without it, as seen from `observer`. Returns 1 if it does not.
int chain_goes_on(const Devnet& net, const NodeEntry& killed, const NodeEntry& observer);

}  // namespace bc::devnet

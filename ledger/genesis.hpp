// Genesis: chain parameters and funded accounts, read from JSON (Boost.JSON).
//
//   {"chain_id": "blockcloud-devnet", "time_ms": 0,
//    "params": {"unbonding_delay": 10, "min_fee": 1, "block_reward": 0,
//               "block_interval_ms": 1000, "producers": ["<64 hex x-only key>"], ...},
//    "accounts": [{"address": "a...", "balance": 1000000, "bonded": 0,
//                  "consensus_key": "<64 hex x-only key>" (optional: a validator)}]}
// Staking parameters (epoch_length, min_stake, ...) are in docs/staking.md.
// Amounts are JSON integers or decimal strings (for values above 2^53).
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layers/crypto.hpp"
#include "layers/runtime.hpp"
#include "ledger/block.hpp"
#include "ledger/error.hpp"
#include "ledger/state.hpp"
#include "ledger/types.hpp"

namespace bc::ledger {

struct GenesisAccount {
  GenesisAccount(Address a = {}, Amount bal = 0, Amount bond = 0, std::optional<XOnlyPubKey> key = std::nullopt)
      : address(a), balance(bal), bonded(bond), consensus_key(key) {}
  Address address;
  Amount balance = 0;
  Amount bonded = 0;
  // Set: a validator voting with this key (docs/staking.md). A genesis with
  // any validator in its committee makes a certified chain.
  std::optional<XOnlyPubKey> consensus_key;
};

struct Genesis {
  ChainParams params;
  TimeMs time = 0;
  std::vector<GenesisAccount> accounts;
};

Result<Genesis> genesis_from_json(std::string_view json);
std::string genesis_to_json(const Genesis& g);
Result<Genesis> load_genesis_file(const std::filesystem::path& file);

// State entries of the genesis (accounts, validators, the epoch-0
// committee, supply, params); fails on a duplicate address or consensus key,
// staking parameters out of range or a supply above 2^64-1.
Result<std::vector<Change>> genesis_changes(const Genesis& g);
// Height 0, no parent, no proposer, no signature.
Block genesis_block(const Genesis& g, const Hash256& state_root);

// Deterministic test keys: secret = tagged_hash("blockcloud/test-key/v1", seed || index).
// For tests and the devnet only: anyone who knows the seed has the keys.
KeyPair test_key(std::uint64_t seed, std::uint64_t index);
struct TestGenesis {
  Genesis genesis;
  std::vector<KeyPair> keys;  // keys[i] owns genesis.accounts[i]
};
TestGenesis make_test_genesis(std::size_t accounts, Amount balance, std::uint64_t seed, std::string chain_id = "blockcloud-devnet");

}  // namespace bc::ledger

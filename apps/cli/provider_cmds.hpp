// blockcloud-cli's Proof-of-Service provider commands
// (docs/proof-of-service.md, "Ledger rules"):
//   provider offer --service NAME --bond N ...   register an offer for a
//                                service the wallet key registered on the
//                                ledger (--register does that first), locking N;
//                                --storage: a storage offer over the shards the
//                                node's storage service holds now
//   provider withdraw OFFER_ID   end an offer; the bond returns after the unbonding delay
//   provider status [OFFER_ID]   one offer, or every offer of the wallet key
// Transactions are signed and sent by main's send_tx (wallet, fee, nonce, wait).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "apps/cli/commands.hpp"
#include "apps/cli/rpc.hpp"
#include "apps/cli/wallet.hpp"
#include "ledger/pos/types.hpp"
#include "ledger/tx.hpp"

namespace bc::cli {

// What the provider and escrow commands need from main's ledger options.
struct ProviderHooks {
  // Signs `payload` with the --from wallet key and sends it.
  std::function<int(const Options&, const Endpoint&, ledger::TxPayload)> send_tx;
  // The --from wallet key.
  std::function<WalletKey()> wallet_key;
  // Adds --from, --fee, --nonce, --wait to a command.
  std::function<void(CLI::App*)> add_tx_options;
  // Adds --from alone (commands that only read).
  std::function<void(CLI::App*)> add_from_option;
  // The --wait seconds given (0: none).
  std::function<double()> wait_s;
  // The nonce send_tx will sign with: --nonce, else the --from account's committed nonce.
  std::function<std::uint64_t(const Options&, const Endpoint&)> next_nonce;
};

class ProviderCommands {
 public:
  // Registrations refer to this object: it must outlive the dispatch.
  ProviderCommands(CLI::App& app, CommandTable& commands, ProviderHooks hooks);
  ProviderCommands(const ProviderCommands&) = delete;
  ProviderCommands& operator=(const ProviderCommands&) = delete;

 private:
  int offer(const Options& o, const Endpoint& rpc);
  int withdraw(const Options& o, const Endpoint& rpc);
  int status(const Options& o, const Endpoint& rpc);
  void register_service(const Options& o, const Endpoint& rpc);
  // Fills a storage offer's commitment from the node's storage service.
  void commit_storage_chunks(const Options& o, const Endpoint& rpc, pos::Offer& offer) const;

  ProviderHooks hooks_;
  std::string service_, provider_key_, request_, expect_, bond_, price_ = "0", offer_id_;
  std::uint32_t delta_bps_ = 9500, max_latency_ms_ = 1000;
  std::uint64_t min_throughput_bps_ = 0;
  std::int64_t offer_nonce_ = -1;
  bool register_ = false;
  bool storage_ = false;
};

}  // namespace bc::cli

// blockcloud-cli's escrow commands (docs/ledger.md, "Transactions"): a client pays
// a provider through an escrow with signed usage receipts, the way an audited
// provider is paid (docs/proof-of-service.md, "Payment is gated by audits"):
//   escrow open --provider ADDRESS --amount N   the client locks N; prints the escrow id
//   escrow receipt ESCROW_ID --cumulative N     the client signs "N paid in all"; prints the signature
//   escrow claim ESCROW_ID --cumulative N --receipt SIG   the provider claims it
//   escrow close ESCROW_ID                      end it: the remainder returns to the client
//                                               (the client may close once it expired, the provider at any time)
//   escrow show ESCROW_ID                       the escrow on chain
// Transactions are signed and sent by main's send_tx (wallet, fee, nonce, wait).
#pragma once
#include <string>

#include <CLI/CLI.hpp>

#include "apps/cli/commands.hpp"
#include "apps/cli/provider_cmds.hpp"

namespace bc::cli {

class EscrowCommands {
 public:
  // Registrations refer to this object: it must outlive the dispatch.
  EscrowCommands(CLI::App& app, CommandTable& commands, ProviderHooks hooks);
  EscrowCommands(const EscrowCommands&) = delete;
  EscrowCommands& operator=(const EscrowCommands&) = delete;

 private:
  int open(const Options& o, const Endpoint& rpc);
  int receipt(const Options& o, const Endpoint& rpc);
  int claim(const Options& o, const Endpoint& rpc);
  int close(const Options& o, const Endpoint& rpc);
  int show(const Options& o, const Endpoint& rpc);

  ProviderHooks hooks_;
  std::string provider_, amount_, escrow_id_, cumulative_, signature_;
  std::uint64_t blocks_ = 100'000;
};

}  // namespace bc::cli

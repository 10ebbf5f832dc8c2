#include "apps/cli/escrow_cmds.hpp"

#include <iostream>

#include <fmt/format.h>

#include "apps/cli/format.hpp"
#include "apps/common/ledger_json.hpp"
#include "apps/storage/payment.hpp"

namespace bc::cli {
namespace json = boost::json;

namespace {

Hash256 need_escrow_id(const std::string& text) {
  auto id = Hash256::from_hex(text);
  if (!id) throw Failure{"ESCROW_ID: \"" + text + "\" is not an escrow id (64 hex digits, as `escrow open` printed)"};
  return *id;
}

ledger::Amount need_positive(const std::string& text, const char* what) {
  auto v = apps::parse_amount(text);
  if (!v || *v == 0) throw Failure{std::string(what) + ": expected a whole number of base units > 0, got \"" + text + "\""};
  return *v;
}

std::string chain_id(const Options& o, const Endpoint& ep) {
  return str(call(o, ep, "head", {}, ms(o.timeout_s)).as_object().at("chain_id"));
}

// The escrow as the chain holds it (get_escrow); a missing one is a Failure
// from the daemon saying it was never opened or is closed.
json::object read_escrow(const Options& o, const Endpoint& ep, const Hash256& id) {
  return call(o, ep, "get_escrow", {{"id", id.hex()}}, ms(o.timeout_s)).as_object();
}

ledger::Amount amount_field(const json::object& e, const char* key) { return std::stoull(str(e.at(key))); }

// Refuses a close the ledger would drop from its block: the caller is
// neither party, or it is the client and the escrow has not expired.
void check_may_close(const json::object& e, const WalletKey& k, std::uint64_t head) {
  const std::string me = ledger::address_text(k.address), client = str(e.at("client")), provider = str(e.at("provider"));
  if (me != client && me != provider)
    throw Failure{"escrow " + str(e.at("id")) + " is between client " + client + " and provider " + provider + "; the wallet key (" +
                  me + ") is neither: pass --from with one of their keys"};
  const auto expires_at = e.at("expires_at").to_number<std::uint64_t>();
  if (me == client && me != provider && !storage::client_may_close(head, expires_at))
    throw Failure{fmt::format("escrow {} has not expired: its client may close it from height {} on, and the chain is at height {} "
                              "({} blocks to go); run `escrow close` again then (its provider may close it at any time)",
                              str(e.at("id")), expires_at, head, expires_at - head - 1)};
}

}  // namespace

EscrowCommands::EscrowCommands(CLI::App& app, CommandTable& commands, ProviderHooks hooks) : hooks_(std::move(hooks)) {
  auto* group = add_command_group(app, "escrow", "pay a provider through an escrow with signed usage receipts");
  auto* open = commands.add(group, "open", "lock --amount for --provider; prints the escrow id",
                            [this](const Options& o, const Endpoint& ep) { return this->open(o, ep); });
  open->add_option("--provider", provider_, "the provider's account address (a...)")->required();
  open->add_option("--amount", amount_, "base units locked from your balance")->required();
  open->add_option("--blocks", blocks_, "blocks until you may close it and take back the rest (default 100000)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40));
  hooks_.add_tx_options(open);
  auto* receipt = commands.add(group, "receipt", "as the client, sign that --cumulative has been earned in all; prints the signature",
                               [this](const Options& o, const Endpoint& ep) { return this->receipt(o, ep); });
  receipt->add_option("ESCROW_ID", escrow_id_, "the escrow id (64 hex digits)")->required();
  receipt->add_option("--cumulative", cumulative_, "everything the provider has earned from this escrow so far")->required();
  hooks_.add_from_option(receipt);
  auto* claim = commands.add(group, "claim", "as the provider, claim what a client's receipt grants",
                             [this](const Options& o, const Endpoint& ep) { return this->claim(o, ep); });
  claim->add_option("ESCROW_ID", escrow_id_, "the escrow id (64 hex digits)")->required();
  claim->add_option("--cumulative", cumulative_, "the receipt's amount")->required();
  claim->add_option("--receipt", signature_, "the receipt's signature (128 hex digits, from `escrow receipt`)")->required();
  hooks_.add_tx_options(claim);
  auto* close = commands.add(group, "close", "end an escrow: its remainder returns to the client (the client: once it expired)",
                             [this](const Options& o, const Endpoint& ep) { return this->close(o, ep); });
  close->add_option("ESCROW_ID", escrow_id_, "the escrow id (64 hex digits)")->required();
  hooks_.add_tx_options(close);
  auto* show = commands.add(group, "show", "an escrow on chain: client, provider, deposited, claimed",
                            [this](const Options& o, const Endpoint& ep) { return this->show(o, ep); });
  show->add_option("ESCROW_ID", escrow_id_, "the escrow id (64 hex digits)")->required();
}

int EscrowCommands::open(const Options& o, const Endpoint& ep) {
  auto provider = apps::parse_address(provider_);
  if (!provider) throw Failure{"--provider: \"" + provider_ + "\" is not an account address (a... with a valid checksum)"};
  const WalletKey k = hooks_.wallet_key();
  const auto head = call(o, ep, "head", {}, ms(o.timeout_s)).as_object();
  const std::uint64_t expires = head.at("height").to_number<std::uint64_t>() + blocks_;
  // The id is the client's address and the nonce of the opening tx.
  const Hash256 id = ledger::escrow_id_of(k.address, hooks_.next_nonce(o, ep));
  if (!o.json) std::cout << "escrow id " << id.hex() << "\n";
  return hooks_.send_tx(o, ep, ledger::EscrowOpen{*provider, need_positive(amount_, "--amount"), expires, {}});
}

int EscrowCommands::receipt(const Options& o, const Endpoint& ep) {
  const WalletKey k = hooks_.wallet_key();
  const auto r = ledger::sign_receipt(k.key, chain_id(o, ep), need_escrow_id(escrow_id_), need_positive(cumulative_, "--cumulative"));
  const std::string sig = to_hex(r.signature.view());
  if (o.json) return print_json(json::object{{"escrow_id", escrow_id_}, {"cumulative", cumulative_}, {"receipt", sig}}), 0;
  std::cout << sig << "\n";
  return 0;
}

int EscrowCommands::claim(const Options& o, const Endpoint& ep) {
  ledger::UsageReceipt r;
  r.escrow_id = need_escrow_id(escrow_id_);
  r.cumulative = need_positive(cumulative_, "--cumulative");
  const auto bytes = from_hex(signature_);
  if (!bytes || bytes->size() != r.signature.bytes.size())
    throw Failure{"--receipt: expected the 128 hex digits `escrow receipt` printed, got \"" + signature_ + "\""};
  std::copy(bytes->begin(), bytes->end(), r.signature.bytes.begin());
  return hooks_.send_tx(o, ep, ledger::EscrowClaim{r.escrow_id, {r}});
}

int EscrowCommands::close(const Options& o, const Endpoint& ep) {
  const Hash256 id = need_escrow_id(escrow_id_);
  const WalletKey k = hooks_.wallet_key();
  const auto e = read_escrow(o, ep, id);
  const auto head = call(o, ep, "head", {}, ms(o.timeout_s)).as_object().at("height").to_number<std::uint64_t>();
  check_may_close(e, k, head);
  if (!o.json)
    std::cout << fmt::format("closing escrow {}: {} base units return to its client {}\n", id.hex(),
                             amount_field(e, "deposited") - amount_field(e, "claimed"), str(e.at("client")));
  return hooks_.send_tx(o, ep, ledger::EscrowClose{id});
}

int EscrowCommands::show(const Options& o, const Endpoint& ep) {
  const auto e = read_escrow(o, ep, need_escrow_id(escrow_id_));
  if (o.json) return print_json(e), 0;
  std::cout << table({{"escrow", str(e.at("id"))},
                      {"client", str(e.at("client"))},
                      {"provider", str(e.at("provider"))},
                      {"deposited", str(e.at("deposited"))},
                      {"claimed", str(e.at("claimed"))},
                      {"expires at", str(e.at("expires_at"))}});
  return 0;
}

}  // namespace bc::cli

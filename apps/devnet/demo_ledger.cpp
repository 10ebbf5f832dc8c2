#include "apps/devnet/demo_ledger.hpp"

#include <chrono>
#include <iostream>
#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "apps/common/ledger_json.hpp"
#include "layers/crypto.hpp"
#include "ledger/tx.hpp"

namespace bc::devnet {
namespace json = boost::json;
namespace {
using Clock = std::chrono::steady_clock;
constexpr ledger::Amount kDemoAmount = 2500;


// The committee as node 0 sees it; returns its size.
std::size_t show_committee(const NodeEntry& n) {
  const auto v = node_rpc(n, "validators", {});
  const auto& members = v.at("committee").as_array();
  std::cout << fmt::format("   the committee of epoch {}: {} validators (nodes 0..{}), {} voting power in all; a block is\n"
                           "   final once validators with more than 2/3 of it precommit to it\n",
                           json::serialize(v.at("epoch")), members.size(), members.size() - 1,
                           json::value_to<std::string>(v.at("total_power")));
  return members.size();
}

// Signs a transfer of kDemoAmount from account 0 to account 1 and sends it
// to `via`; returns its id.
std::string send_transfer(const Devnet& net, const NodeEntry& via) {
  const KeyPair key = load_or_create_key_file(net.accounts.at(0).key_file);
  auto to = apps::parse_address(net.accounts.at(1).address);
  if (!to) throw std::runtime_error("devnet.json: account 1 has no valid address");
  return send_signed(via, key, account_nonce(via, key), ledger::Transfer{*to, kDemoAmount});
}

// "round R, precommits of S validators" from block h's certificate on n.
std::string certificate_text(const NodeEntry& n, std::uint64_t h) {
  const auto b = node_rpc(n, "get_block", {{"height", h}});
  const auto* c = b.if_contains("certificate");
  if (!c) return "NO certificate";
  return fmt::format("a commit certificate: round {}, precommits of {} validators",
                     json::serialize(c->at("round")), json::serialize(c->at("signers")));
}
}  // namespace

std::uint64_t height_of(const NodeEntry& n) { return node_rpc(n, "head", {}).at("height").to_number<std::uint64_t>(); }

std::uint64_t account_nonce(const NodeEntry& via, const KeyPair& key) {
  const auto acc = node_rpc(via, "get_account", {{"address", ledger::address_text(ledger::address_of(key.public_key()))}});
  return acc.at("nonce").to_number<std::uint64_t>();
}

std::string send_signed(const NodeEntry& via, const KeyPair& key, std::uint64_t nonce, ledger::TxPayload payload) {
  ledger::TxBody body;
  body.chain_id = json::value_to<std::string>(node_rpc(via, "head", {}).at("chain_id"));
  body.sender = key.public_key();
  body.nonce = nonce;
  body.fee = 1;
  body.payload = std::move(payload);
  const auto tx = ledger::sign_tx(std::move(body), key);
  node_rpc(via, "send_tx", {{"tx", to_hex(ledger::encode_tx(tx))}});
  return tx.id.hex();
}

std::optional<std::uint64_t> await_commit(const NodeEntry& where, const std::string& id, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    const auto t = node_rpc(where, "get_tx", {{"id", id}});
    if (t.at("status").as_string() == "committed") return t.at("height").to_number<std::uint64_t>();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}

int demo_committee(const Devnet& net) {
  std::cout << "\n== 8. Blocks finalised by a committee of validators\n";
  if (net.genesis.empty() || net.accounts.size() < 2) {
    std::cout << "   this devnet has no ledger\n";
    return 1;
  }
  try {
    const auto& via = net.nodes[1];
    const auto& follower = net.nodes.back();
    if (show_committee(net.nodes[0]) == 0) return 1;
    const auto t0 = Clock::now();
    const std::string id = send_transfer(net, via);
    std::cout << fmt::format("   account 0 sends {} to account 1 through node {} (tx {}…)\n", kDemoAmount, via.index,
                             id.substr(0, 12));
    const auto h = await_commit(follower, id);
    if (!h) {
      std::cout << fmt::format("   node {} did not see it committed within 15 s\n", follower.index);
      return 1;
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    std::cout << fmt::format("   node {} (a follower, not a validator) has it final at height {} after {} ms,\n"
                             "   in a block carrying {}\n",
                             follower.index, *h, ms, certificate_text(follower, *h));
    return 0;
  } catch (const std::exception& e) {
    std::cout << fmt::format("   the ledger step failed: {}\n", e.what());
    return 1;
  }
}

int chain_goes_on(const Devnet& net, const NodeEntry& killed, const NodeEntry& observer) {
  if (net.genesis.empty()) return 0;
  try {
    const auto from = height_of(observer);
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline) {
      const auto h = height_of(observer);
      if (h >= from + 2) {
        std::cout << fmt::format("   without validator {} the others finalised heights {}..{}; the last carries {}\n",
                                 killed.index, from + 1, h, certificate_text(observer, h));
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::cout << fmt::format("   the chain did not finalise 2 blocks within 20 s of losing validator {}\n", killed.index);
  } catch (const std::exception& e) {
    std::cout << fmt::format("   could not follow the chain: {}\n", e.what());
  }
  return 1;
}

}  // namespace bc::devnet

#include "apps/cli/provider_cmds.hpp"

#include <chrono>
#include <iostream>

#include <fmt/format.h>

#include "apps/cli/format.hpp"
#include "apps/common/ledger_json.hpp"
#include "layers/ids.hpp"
#include "ledger/pos/codec.hpp"

namespace bc::cli {
namespace json = boost::json;

namespace {

Hash256 need_offer_id(const std::string& text) {
  auto id = Hash256::from_hex(text);
  if (!id) throw Failure{"OFFER_ID: \"" + text + "\" is not an offer id (64 hex digits, as `provider offer` printed)"};
  return *id;
}

ledger::Amount need_units(const std::string& text, const char* what) {
  auto v = apps::parse_amount(text);
  if (!v) throw Failure{std::string(what) + ": \"" + text + "\" is not a whole number of base units"};
  return *v;
}

void print_offer(const json::object& s) {
  std::cout << table({{"offer", str(s.at("offer_id"))},
                      {"status", str(s.at("status"))},
                      {"service", str(s.at("service_id"))},
                      {"provider key", str(s.at("provider"))},
                      {"bond", str(s.at("bond"))},
                      {"reputation", str(s.at("reputation_bps")) + " bps"},
                      {"declared", fmt::format("delta {} bps, latency <= {} ms, throughput >= {} B/s, price {}",
                                               str(s.at("delta_bps")), str(s.at("max_latency_ms")),
                                               str(s.at("min_throughput_bps")), str(s.at("price")))},
                      {"registered at", str(s.at("registered_at"))}});
}

}  // namespace

ProviderCommands::ProviderCommands(CLI::App& app, CommandTable& commands, ProviderHooks hooks) : hooks_(std::move(hooks)) {
  auto* group = add_command_group(app, "provider", "Proof-of-Service offers: register, inspect, withdraw");
  auto* offer = commands.add(group, "offer", "offer a service you registered for audited, paid service; locks --bond",
                             [this](const Options& o, const Endpoint& ep) { return this->offer(o, ep); });
  offer->add_option("--service", service_, "name of a service your --from key registered on the ledger")->required();
  offer->add_option("--bond", bond_, "base units locked from your balance, slashed if audits fail")->required();
  offer->add_option("--request", request_, "the probe: a request real clients make, e.g. \"GET / HTTP/1.1\" (not with --storage)");
  offer->add_option("--expect", expect_, "the exact response the probe must get (its hash goes on chain; not with --storage)");
  offer->add_flag("--storage", storage_,
                  "a storage offer: the node (--rpc) commits the shards its storage service holds now, and audits "
                  "challenge them (run it with --wallet-dir <node's storage dir> --from owner --service storage)");
  offer->add_option("--provider-key", provider_key_, "x-only key that answers (64 hex digits; default: the --from key)");
  offer->add_option("--delta", delta_bps_, "declared availability in bps (5000..10000, default 9500)")->check(CLI::Range(5000, 10000));
  offer->add_option("--max-latency", max_latency_ms_, "declared time to first byte bound in ms (default 1000)")->check(CLI::Range(1u, 600'000u));
  offer->add_option("--min-throughput", min_throughput_bps_, "declared minimum throughput in bytes/s (default 0)");
  offer->add_option("--price", price_, "price per unit of usage, base units (default 0)");
  offer->add_option("--offer-nonce", offer_nonce_, "makes the offer id unique (default: the time in ms)");
  offer->add_flag("--register", register_, "first register --service on the ledger (once per service; needs --wait)");
  hooks_.add_tx_options(offer);
  auto* withdraw = commands.add(group, "withdraw", "end an offer; its bond returns after the unbonding delay",
                                [this](const Options& o, const Endpoint& ep) { return this->withdraw(o, ep); });
  withdraw->add_option("OFFER_ID", offer_id_, "the offer id (64 hex digits)")->required();
  hooks_.add_tx_options(withdraw);
  auto* status = commands.add(group, "status", "an offer by id, or every offer of your --from key",
                              [this](const Options& o, const Endpoint& ep) { return this->status(o, ep); });
  status->add_option("OFFER_ID", offer_id_, "the offer id (default: all offers of the --from key)");
  hooks_.add_from_option(status);
}

int ProviderCommands::offer(const Options& o, const Endpoint& ep) {
  const WalletKey k = hooks_.wallet_key();
  pos::Offer offer;
  offer.service_id = ledger::service_id_of(k.key.public_key(), service_);
  offer.provider = k.key.public_key();
  if (!provider_key_.empty()) {
    auto bytes = from_hex(provider_key_);
    auto key = bytes ? parse_pubkey(*bytes) : std::nullopt;
    if (!key) throw Failure{"--provider-key: \"" + provider_key_ + "\" is not an x-only public key (64 hex digits)"};
    offer.provider = *key;
  }
  if (storage_) {
    if (!request_.empty() || !expect_.empty()) throw Failure{"--storage offers are probed by audit challenges: drop --request and --expect"};
    commit_storage_chunks(o, ep, offer);
  } else {
    if (request_.empty() || expect_.empty()) throw Failure{"--request and --expect are required (or --storage for a storage offer)"};
    offer.probe_request.assign(request_.begin(), request_.end());
    offer.expected_response_hash = sha256(as_bytes(expect_));
  }
  offer.delta_bps = delta_bps_;
  offer.max_latency_ms = max_latency_ms_;
  offer.min_throughput_bps = min_throughput_bps_;
  offer.price = need_units(price_, "--price");
  offer.bond = need_units(bond_, "--bond");
  offer.nonce = offer_nonce_ >= 0 ? static_cast<std::uint64_t>(offer_nonce_)
                                  : static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                   std::chrono::system_clock::now().time_since_epoch())
                                                                   .count());
  pos::sign_offer(offer, k.key);
  if (Status s = ledger::check_offer_fields(offer); !s.ok()) throw Failure{"offer refused before sending: " + s.text()};
  if (register_) register_service(o, ep);
  if (!o.json) std::cout << "offer id " << pos::offer_id(offer).hex() << "\n";
  return hooks_.send_tx(o, ep, ledger::PosOffer{offer});
}

// Asks the node to commit the shards it stores to a chunk list; the answer
// is the offer's commitment. The list's provider key must be the offer's.
void ProviderCommands::commit_storage_chunks(const Options& o, const Endpoint& ep, pos::Offer& offer) const {
  json::object r;
  try {
    r = call(o, ep, "storage_commit_chunks", {}, ms(o.timeout_s)).as_object();
  } catch (const Failure& f) {
    if (f.message.find("unknown method") == std::string::npos) throw;
    throw Failure{"the node at --rpc is not a storage provider: start it with --storage (or point --rpc at one)"};
  }
  const auto root = Hash256::from_hex(std::string(r.at("storage_root").as_string()));
  const auto key_bytes = from_hex(std::string(r.at("provider_key").as_string()));
  const auto key = key_bytes ? parse_pubkey(*key_bytes) : std::nullopt;
  if (!root || !key) throw Failure{"the node's storage_commit_chunks answer is malformed; is the daemon the same version?"};
  if (!provider_key_.empty() && *key != offer.provider)
    throw Failure{"--provider-key differs from the key that signs this node's audit answers (" + to_hex(key->view()) + ")"};
  offer.kind = pos::ServiceKind::kStorage;
  offer.storage_root = *root;
  offer.storage_chunks = r.at("storage_chunks").to_number<std::uint64_t>();
  offer.provider = *key;
  if (!o.json)
    std::cout << "committed " << offer.storage_chunks << " shard(s), storage root " << root->hex() << "\n";
}

// Registers --service on the ledger and waits for it: the offer's nonce is
// the next one only once the registration is committed. Already registered
// (by this key) is fine.
void ProviderCommands::register_service(const Options& o, const Endpoint& ep) {
  if (hooks_.wait_s() <= 0) throw Failure{"--register needs --wait SECONDS, so the registration commits before the offer is signed"};
  try {
    hooks_.send_tx(o, ep, ledger::RegisterService{service_});
  } catch (const Failure& f) {
    if (f.message.find("service_exists") == std::string::npos) throw;
  }
}

int ProviderCommands::withdraw(const Options& o, const Endpoint& ep) {
  return hooks_.send_tx(o, ep, ledger::PosWithdraw{need_offer_id(offer_id_)});
}

int ProviderCommands::status(const Options& o, const Endpoint& ep) {
  if (!offer_id_.empty()) {
    const auto r = call(o, ep, "get_offer", {{"offer_id", need_offer_id(offer_id_).hex()}}, ms(o.timeout_s));
    if (o.json) return print_json(r), 0;
    print_offer(r.as_object());
    return 0;
  }
  const WalletKey k = hooks_.wallet_key();
  const auto r = call(o, ep, "list_offers", {{"account", ledger::address_text(k.address)}}, ms(o.timeout_s));
  if (o.json) return print_json(r), 0;
  const auto& offers = r.as_object().at("offers").as_array();
  for (const auto& v : offers) print_offer(v.as_object()), std::cout << "\n";
  std::cout << fmt::format("{} offer(s) of {}\n", offers.size(), ledger::address_text(k.address));
  return 0;
}

}  // namespace bc::cli

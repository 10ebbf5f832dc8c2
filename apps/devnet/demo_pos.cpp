#include "apps/devnet/demo_pos.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "apps/common/ledger_json.hpp"
#include "apps/devnet/demo_ledger.hpp"
#include "layers/asio_endpoint.hpp"
#include "ledger/genesis.hpp"
#include "ledger/pos/codec.hpp"
#include "ledger/pos_ledger.hpp"
#include "ledger/validators.hpp"
#include "sal/records/delegation.hpp"

namespace bc::devnet {
namespace json = boost::json;
using boost::asio::ip::tcp;

namespace {
using Clock = std::chrono::steady_clock;

constexpr ledger::Amount kBond = 100'000;
constexpr ledger::Amount kDeposit = 5'000;  // each escrow
constexpr ledger::Amount kUsage = 3'000;    // what the client's receipt grants each provider
constexpr const char* kRequest = "GET / HTTP/1.1";
constexpr const char* kGoodStatus = "HTTP/1.0 200 OK";
constexpr const char* kBadStatus = "HTTP/1.0 500 Internal Server Error";

std::string s(const json::value& v) { return v.is_string() ? std::string(v.as_string()) : json::serialize(v); }
std::string short_hex(const std::string& h) { return h.substr(0, 12) + "…"; }
ledger::Amount amount(const json::value& v) { return std::stoull(s(v)); }

// A provider's backend: answers each request head with one fixed status
// line (and a short body), then closes. Runs its own io_context on a thread.
class StatusBackend {
 public:
  explicit StatusBackend(const std::string& status_line)
      : reply_(status_line + "\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n"),
        acceptor_(io_, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~StatusBackend() {
    io_.stop();
    thread_.join();
  }
  StatusBackend(const StatusBackend&) = delete;
  StatusBackend& operator=(const StatusBackend&) = delete;
  Endpoint address() const { return from_asio(acceptor_.local_endpoint()); }
  std::uint64_t served() const { return served_.load(); }

 private:
  struct Conn : std::enable_shared_from_this<Conn> {
    Conn(tcp::socket s, const std::string& r, std::atomic<std::uint64_t>& n) : sock(std::move(s)), reply(r), served(n) {}
    tcp::socket sock;
    boost::asio::streambuf in{8192};  // a request head larger than this is not a client's
    const std::string& reply;
    std::atomic<std::uint64_t>& served;
    void run() {
      boost::asio::async_read_until(sock, in, "\r\n\r\n", [self = shared_from_this()](auto ec, std::size_t) {
        if (ec) return;
        boost::asio::async_write(self->sock, boost::asio::buffer(self->reply), [self](auto e, std::size_t) {
          if (!e) ++self->served;
          boost::system::error_code ignored;
          self->sock.shutdown(tcp::socket::shutdown_both, ignored);
        });
      });
    }
  };
  void accept() {
    acceptor_.async_accept([this](auto ec, tcp::socket sock) {
      if (ec) return;
      std::make_shared<Conn>(std::move(sock), reply_, served_)->run();
      accept();
    });
  }
  const std::string reply_;
  std::atomic<std::uint64_t> served_{0};
  boost::asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

// One provider of the step: the owner account's key registers the service
// and the offer, bonds, and is paid (an escrow names its provider by account).
struct Provider {
  std::string name;
  const NodeEntry* node = nullptr;  // serves the service
  KeyPair owner;
  std::string status_line;          // what its backend answers
  std::unique_ptr<StatusBackend> backend;
  Hash256 offer_id;
  Hash256 escrow_id;
  std::uint64_t claim_height = 0;
  ledger::Address account() const { return ledger::address_of(owner.public_key()); }
};

XOnlyPubKey node_pubkey(const NodeEntry& n) {
  const auto bytes = from_hex(std::string(node_rpc(n, "status", {}).at("node_key").as_string()));
  const auto key = bytes ? parse_pubkey(*bytes) : std::nullopt;
  if (!key) throw std::runtime_error("node " + std::to_string(n.index) + " reported no node key");
  return *key;
}

// The owner delegates the provider's node, which serves the service from its backend.
void serve(Provider& p) {
  p.backend = std::make_unique<StatusBackend>(p.status_line);
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  const auto d = sal::make_delegation(p.owner, p.name, node_pubkey(*p.node), 1, now - 60'000, now + 3'600'000);
  node_rpc(*p.node, "service_serve", {{"delegation", to_hex(sal::encode_delegation(d))},
                                      {"backend", p.backend->address().to_string()}});
}

// The owner registers the service name and an offer bonding kBond whose probe
// expects kGoodStatus; returns the offer's commit height.
std::uint64_t register_offer(Provider& p, const NodeEntry& via) {
  pos::Offer offer;
  offer.service_id = ledger::service_id_of(p.owner.public_key(), p.name);
  offer.provider = p.owner.public_key();
  offer.probe_request.assign(kRequest, kRequest + std::string_view(kRequest).size());
  offer.expected_response_hash = sha256(as_bytes(std::string_view(kGoodStatus)));
  offer.delta_bps = 9500;
  offer.max_latency_ms = 5000;  // generous: the demo shares a loaded machine
  offer.bond = kBond;
  offer.nonce = 1;
  pos::sign_offer(offer, p.owner);
  p.offer_id = pos::offer_id(offer);
  // The offer names a registered service: the registration commits first.
  const std::uint64_t nonce = account_nonce(via, p.owner);
  if (!await_commit(via, send_signed(via, p.owner, nonce, ledger::RegisterService{p.name})))
    throw std::runtime_error("the registration of \"" + p.name + "\" was not committed within 15 s");
  const auto h = await_commit(via, send_signed(via, p.owner, nonce + 1, ledger::PosOffer{offer}));
  if (!h) throw std::runtime_error("the offer of \"" + p.name + "\" was not committed within 15 s");
  return *h;
}

// The client opens one escrow of kDeposit to each provider's account.
void open_escrows(const KeyPair& client, std::vector<Provider>& ps, const NodeEntry& via) {
  const std::uint64_t nonce = account_nonce(via, client);
  const std::uint64_t expires = height_of(via) + 100'000;
  std::string last;
  for (std::size_t i = 0; i < ps.size(); ++i) {
    ps[i].escrow_id = ledger::escrow_id_of(ledger::address_of(client.public_key()), nonce + i);
    last = send_signed(via, client, nonce + i, ledger::EscrowOpen{ps[i].account(), kDeposit, expires, {}});
  }
  if (!await_commit(via, last)) throw std::runtime_error("the client's escrows were not committed within 15 s");
}

// Each provider claims kUsage with a receipt the client signed; the claim's
// height is recorded (its epoch's settlement releases the pay).
void claim_usage(const KeyPair& client, std::vector<Provider>& ps, const NodeEntry& via) {
  const std::string chain_id(node_rpc(via, "head", {}).at("chain_id").as_string());
  std::vector<std::string> ids;  // sent together: they should land in the audited epoch
  for (auto& p : ps) {
    const auto receipt = ledger::sign_receipt(client, chain_id, p.escrow_id, kUsage);
    ids.push_back(send_signed(via, p.owner, account_nonce(via, p.owner), ledger::EscrowClaim{p.escrow_id, {receipt}}));
  }
  for (std::size_t i = 0; i < ps.size(); ++i) {
    const auto h = await_commit(via, ids[i]);
    if (!h) throw std::runtime_error("the claim of \"" + ps[i].name + "\" was not committed within 15 s");
    ps[i].claim_height = *h;
  }
}

// Waits until `via`'s head reaches `target`, printing a line as each epoch
// begins (what happens in it, from `say`); false after `limit`.
bool wait_for_height(const NodeEntry& via, std::uint64_t target, const ledger::ChainParams& cp,
                     const std::function<std::string(std::uint64_t epoch)>& say, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  std::uint64_t shown = UINT64_MAX;
  while (Clock::now() < deadline) {
    const std::uint64_t h = height_of(via);
    const std::uint64_t e = ledger::epoch_of(std::max<std::uint64_t>(h, 1), cp);
    if (e != shown) {
      const std::string what = say(e);
      if (!what.empty()) std::cout << fmt::format("   … height {}, epoch {}: {}\n", h, e, what) << std::flush;
      shown = e;
    }
    if (h >= target) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::cout << fmt::format("   height {} not reached within {} s\n", target, limit.count());
  return false;
}

// ---- Reading the outcome back from the chain ----------------------------------

struct Outcome {
  std::map<std::string, ledger::Amount> usage;  // effect kind -> amount, for one provider's held claim
};

// Settlement effects in heights [from, to]: each provider's usage effects
// (by its held entry's id) and the report fees of `epoch` by account.
std::map<std::string, ledger::Amount> scan_settlement(const NodeEntry& via, std::uint64_t from, std::uint64_t to,
                                                      std::uint64_t epoch, const std::vector<Provider>& ps,
                                                      std::vector<Outcome>& out, const ledger::ChainParams& cp) {
  std::map<std::string, ledger::Amount> fees;
  const std::string fee_reason = ledger::pos_settle_reason("report-fee", Hash256{}, epoch).hex();
  for (std::uint64_t h = from; h <= to; ++h) {
    const auto b = node_rpc(via, "get_block", {{"height", h}});
    for (const auto& ev : b.at("effects").as_array()) {
      const auto& e = ev.as_object();
      const std::string kind = s(e.at("kind")), account = s(e.at("account"));
      if (kind == "reward" && s(e.at("reason")) == fee_reason) fees[account] += amount(e.at("amount"));
      for (std::size_t i = 0; i < ps.size(); ++i) {
        const auto usage = ledger::pos_usage_id(ledger::epoch_of(ps[i].claim_height, cp), ps[i].account(), ps[i].escrow_id);
        if (account == ledger::address_text(usage)) out[i].usage[kind] += amount(e.at("amount"));
      }
    }
  }
  return fees;
}

// audit_show's record of `epoch` for the offer, or an empty object.
json::object epoch_record(const json::object& offer, std::uint64_t epoch) {
  for (const auto& e : offer.at("epochs").as_array())
    if (e.as_object().at("epoch").to_number<std::uint64_t>() == epoch) return e.as_object();
  return {};
}

// One provider's grade, bond and pay, as audit_show and the blocks show them;
// returns 1 if it is not what its backend earned.
int show_provider(const Provider& p, const json::object& offer, std::uint64_t epoch, const Outcome& o,
                  const ledger::ChainParams& cp) {
  const json::object rec = epoch_record(offer, epoch);
  const std::string grade = rec.contains("grade") ? s(rec.at("grade")) : "missing";
  ledger::Amount burned = 0;
  if (rec.contains("effects"))
    for (const auto& e : rec.at("effects").as_array())
      if (s(e.as_object().at("kind")) == "burn_offer_bond") burned += amount(e.as_object().at("amount"));
  const auto get = [&](const char* k) { return o.usage.count(k) ? o.usage.at(k) : 0; };
  std::cout << fmt::format("   \"{}\": graded {} ({} reports on chain, median score {} bps), reputation {} bps, bond {}\n",
                           p.name, grade, rec.contains("reports") ? rec.at("reports").as_array().size() : 0,
                           rec.contains("median_score_bps") ? s(rec.at("median_score_bps")) : "-",
                           s(offer.at("reputation_bps")), s(offer.at("bond")));
  if (burned > 0)
    std::cout << fmt::format("      reputation fell below its declared {} bps: {} of its bond burned (effect burn_offer_bond,\n"
                             "      reason pos-settle \"{}\" of epoch {}; slash = bond x (delta - reputation) x {} bps / 10^8)\n",
                             s(offer.at("delta_bps")), burned, grade, epoch, cp.pos.unstable_rate_bps);
  std::cout << fmt::format("      of the {} it claimed: {} paid now, {} held back{}, {} refunded to the client\n", kUsage,
                           get("usage_pay"), get("usage_defer"),
                           get("usage_defer") ? fmt::format(" until epoch {} (a new provider's first {} epochs)",
                                                            ledger::epoch_of(p.claim_height, cp) + cp.pos.holdback_epochs,
                                                            cp.pos.holdback_epochs)
                                              : std::string(),
                           get("usage_refund"));
  const bool honest = p.status_line == kGoodStatus;
  if (honest) return grade != "unstable" && get("usage_pay") + get("usage_defer") > 0 ? 0 : 1;
  return grade == "unstable" && burned > 0 && get("usage_pay") == 0 ? 0 : 1;
}

// Which node each validator account belongs to (a devnet validator's account is its node key's).
std::map<std::string, int> validator_nodes(const Devnet& net, std::size_t validators) {
  std::map<std::string, int> out;
  for (std::size_t i = 0; i < validators && i < net.nodes.size(); ++i)
    out[ledger::address_text(ledger::address_of(node_pubkey(net.nodes[i])))] = net.nodes[i].index;
  return out;
}

// The miners' own counts (miner_status) and the report fees settlement paid them;
// returns 1 if no fee was paid.
int show_miners(const Devnet& net, std::size_t validators, const std::map<std::string, ledger::Amount>& fees) {
  std::uint64_t sent = 0, passed = 0, failed = 0;
  for (std::size_t i = 0; i < validators && i < net.nodes.size(); ++i) {
    const auto st = node_rpc(net.nodes[i], "miner_status", {});
    sent += st.at("probes").at("sent").to_number<std::uint64_t>();
    passed += st.at("probes").at("passed").to_number<std::uint64_t>();
    failed += st.at("probes").at("failed").to_number<std::uint64_t>();
  }
  std::cout << fmt::format("   the {} miners sent {} probes so far: {} passed, {} failed (miner_status)\n", validators, sent,
                           passed, failed);
  const auto nodes = validator_nodes(net, validators);
  std::string paid;
  for (const auto& [account, fee] : fees) {
    const auto it = nodes.find(account);
    paid += fmt::format("{}{} to {}", paid.empty() ? "" : ", ", fee,
                        it == nodes.end() ? short_hex(account) : "node " + std::to_string(it->second));
  }
  std::cout << fmt::format("   report fees minted to the auditors whose reports agreed with the median: {}\n",
                           paid.empty() ? "none" : paid);
  return fees.empty() ? 1 : 0;
}

// get_supply: the burn left the supply but stays counted; returns 1 if not conserved.
int show_supply(const NodeEntry& via) {
  const auto sp = node_rpc(via, "get_supply", {});
  const bool ok = sp.at("conserved").as_bool();
  std::cout << fmt::format("   supply at height {}: minted {}, burned {}; {}\n", s(sp.at("height")), s(sp.at("minted")),
                           s(sp.at("burned")),
                           ok ? "balances, stakes, escrows, bonds, held pay and burns add up to it (get_supply)"
                              : "NOT conserved: " + s(sp.at("problem")));
  return ok ? 0 : 1;
}

std::vector<Provider> demo_providers(const Devnet& net) {
  std::vector<Provider> ps(2);
  ps[0].name = "honest";
  ps[0].node = &net.nodes.back();
  ps[0].owner = load_or_create_key_file(net.accounts.at(2).key_file);
  ps[0].status_line = kGoodStatus;
  ps[1].name = "cheater";
  ps[1].node = &net.nodes[net.nodes.size() - 2];
  ps[1].owner = load_or_create_key_file(net.accounts.at(3).key_file);
  ps[1].status_line = kBadStatus;
  return ps;
}

// The offers, the escrows and the claims; returns the audited epoch.
std::uint64_t set_up_and_pay(std::vector<Provider>& ps, const KeyPair& client, const NodeEntry& via,
                             const ledger::ChainParams& cp) {
  std::uint64_t registered = 0;
  for (auto& p : ps) {
    serve(p);
    registered = std::max(registered, register_offer(p, via));
    std::cout << fmt::format("   \"{}\" is served by node {} from a backend answering \"{}\";\n"
                             "      its owner ({}) bonds {} in offer {} (the probe: \"{}\", expecting \"{}\")\n",
                             p.name, p.node->index, p.status_line, short_hex(ledger::address_text(p.account())), kBond,
                             short_hex(p.offer_id.hex()), kRequest, kGoodStatus);
  }
  open_escrows(client, ps, via);
  const std::uint64_t audited = std::max<std::uint64_t>(2, ledger::epoch_of(registered, cp) + 1);
  std::cout << fmt::format("   a client ({}) opens an escrow of {} to each provider; epoch {} (heights {}-{}) is the\n"
                           "   first the offers are audited in: its seed picks {} auditors per offer among the validators\n",
                           short_hex(ledger::address_text(ledger::address_of(client.public_key()))), kDeposit, audited,
                           ledger::first_height_of(audited, cp), ledger::first_height_of(audited + 1, cp) - 1,
                           cp.pos.auditors_per_offer);
  const auto say = [&](std::uint64_t e) {
    return e < audited ? std::string("waiting for the audited epoch") : std::string();
  };
  if (!wait_for_height(via, ledger::first_height_of(audited, cp), cp, say, std::chrono::seconds(30)))
    throw std::runtime_error("the chain did not reach the audited epoch");
  claim_usage(client, ps, via);
  std::cout << fmt::format("   each provider claims {} with a usage receipt its client signed (heights {} and {});\n"
                           "   the chain holds the pay until the claim's epoch is settled\n",
                           kUsage, ps[0].claim_height, ps[1].claim_height);
  return audited;
}

}  // namespace

int demo_pos(const Devnet& net) {
  std::cout << "\n== 9. Proof-of-Service: miners audit providers; honest service is paid, a cheater is slashed\n";
  if (net.genesis.empty() || net.accounts.size() < 5 || net.nodes.size() < 3)
    return std::cout << "   needs a ledger with 5 accounts and 3 nodes\n", 1;
  try {
    auto genesis = ledger::load_genesis_file(net.genesis);
    if (!genesis.ok()) throw std::runtime_error(genesis.status().text());
    const ledger::ChainParams& cp = genesis->params;
    const NodeEntry& via = net.nodes[1];
    const std::size_t validators = node_rpc(via, "validators", {}).at("committee").as_array().size();
    auto ps = demo_providers(net);
    const KeyPair client = load_or_create_key_file(net.accounts.at(4).key_file);
    const std::uint64_t audited = set_up_and_pay(ps, client, via, cp);
    const std::uint64_t last_claim = std::max(ledger::epoch_of(ps[0].claim_height, cp), ledger::epoch_of(ps[1].claim_height, cp));
    const std::uint64_t settled_at = ledger::first_height_of(std::max(audited, last_claim) + 2, cp);
    const auto say = [&](std::uint64_t e) -> std::string {
      if (e == audited) return "the miners probe both offers at secret times, as ordinary clients";
      if (e == audited + 1)
        return fmt::format("the miners' signed reports of epoch {} go on chain (the backends answered {} and {} probes)",
                           audited, ps[0].backend->served(), ps[1].backend->served());
      if (e >= audited + 2) return fmt::format("epoch {} is settled", e - 2);
      return {};
    };
    if (!wait_for_height(via, settled_at + 2, cp, say, std::chrono::seconds(60))) return 1;
    std::vector<Outcome> outcomes(ps.size());
    const auto fees = scan_settlement(via, ledger::first_height_of(audited + 2, cp), height_of(via), audited, ps, outcomes, cp);
    int failures = 0;
    for (std::size_t i = 0; i < ps.size(); ++i) {
      const auto shown = node_rpc(via, "audit_show", {{"offer_id", ps[i].offer_id.hex()}, {"epochs", 8}});
      failures += show_provider(ps[i], shown.at("offers").as_array().at(0).as_object(), audited, outcomes[i], cp);
    }
    failures += show_miners(net, validators, fees);
    return failures + show_supply(via);
  } catch (const std::exception& e) {
    std::cout << fmt::format("   the Proof-of-Service step failed: {}\n", e.what());
    return 1;
  }
}

}  // namespace bc::devnet

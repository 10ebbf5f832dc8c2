#include "apps/cli/service_cmds.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "apps/cli/format.hpp"
#include "apps/cli/socks_client.hpp"
#include "layers/crypto.hpp"
#include "layers/ids.hpp"
#include "routing/record_codec.hpp"
#include "sal/records/delegation.hpp"
#include "sal/records/endpoint_record.hpp"
#include "sal/records/service_id.hpp"

namespace bc::cli {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

fs::path key_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* home = std::getenv("HOME");
  return fs::path(home ? home : ".") / ".blockcloud" / "services";
}

TimeMs now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

sal::ServiceId need_service(const std::string& text) {
  auto parsed = sal::parse_service_id(text);
  if (!parsed) throw Failure{"SERVICE: " + parsed.status().message};
  return *parsed;
}

// An owner key file (created 0600 if missing). Its errors (permissions, a
// malformed file) say what to fix; they are this command's failure, not an
// unexpected answer from the daemon.
KeyPair owner_key_file(const fs::path& file) {
  try {
    return load_or_create_key_file(file);
  } catch (const std::exception& e) {
    throw Failure{e.what()};
  }
}

// A node key as `blockcloud-cli status` prints it (64 hex digits); nullopt if `hex` is not one.
std::optional<XOnlyPubKey> parse_node_key(const std::string& hex) {
  auto bytes = from_hex(hex);
  return bytes ? parse_pubkey(*bytes) : std::nullopt;
}

struct OwnedService {
  std::string name;
  KeyPair owner;
  sal::ServiceId id;
};

// Every owner key in the directory, with the service ID it makes.
std::vector<OwnedService> owned(const fs::path& dir) {
  std::vector<OwnedService> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().extension() != ".key") continue;
    const std::string name = e.path().stem().string();
    if (!sal::is_valid_service_name(name)) continue;
    KeyPair k = owner_key_file(e.path());
    out.push_back({name, k, sal::service_id_of(k.public_key(), name)});
  }
  return out;
}

// The owner key of `id` in `dir`, or a Failure saying only the owner can `act`.
OwnedService owner_of(const fs::path& dir, const sal::ServiceId& id, const char* act) {
  for (auto& s : owned(dir)) {
    if (s.id == id) return std::move(s);
  }
  throw Failure{"no owner key for " + sal::service_id_to_text(id) + " in " + dir.string() + "; only the owner can " +
                act + " (create services with `service create`, or pass --key-dir if the key is elsewhere)"};
}

// A certificate given as hex, or as @FILE holding the hex.
std::string delegation_hex(const std::string& arg) {
  if (arg.empty() || arg[0] != '@') return arg;
  std::ifstream f(arg.substr(1));
  if (!f) throw Failure{"--delegation " + arg + ": cannot read " + arg.substr(1)};
  std::stringstream ss;
  ss << f.rdbuf();
  std::string hex = ss.str();
  while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back()))) hex.pop_back();
  return hex;
}

}  // namespace

ServiceCommands::ServiceCommands(CLI::App& app, CommandTable& commands) : commands_(commands) {
  app.add_option("--key-dir", key_dir_, "where service owner keys live (default ~/.blockcloud/services)");
  auto* service = add_command_group(app, "service", "services this node owns or provides");
  add_owner_commands(service);
  add_provider_commands(service);
  add_flow_commands(app);
  add_node_commands(app);
  add_rules_commands(app);
}

CLI::App* ServiceCommands::add(CLI::App* parent, const std::string& name, const std::string& help, Method method) {
  return commands_.add(parent, name, help,
                       [this, method](const Options& o, const Endpoint& rpc) { return (this->*method)(o, rpc); });
}

// What only the owner key signs: the service ID, delegations, revocations.
void ServiceCommands::add_owner_commands(CLI::App* service) {
  auto* create = add(service, "create", "make an owner key for NAME and print the service ID", &ServiceCommands::create);
  create->add_option("NAME", name_, "1-63 of a-z, 0-9 and '-' (the ID is hash(owner key, name))")->required();

  auto* delegate = add(service, "delegate", "sign a certificate that lets a node provide SERVICE",
                       &ServiceCommands::delegate);
  delegate->add_option("SERVICE", service_, "a service you own (s... id; see `service create`)")->required();
  delegate->add_option("--to", to_, "the provider's node key, 64 hex digits (`blockcloud-cli status` on that node)")
      ->required();
  delegate->add_option("--days", days_, "validity in days (default 30)")->check(CLI::Range(0.001, 3650.0));
  delegate->add_option("--out", out_, "also write the certificate (hex) to this file");

  auto* revoke = add(service, "revoke", "publish the owner's statement revoking delegations of SERVICE",
                     &ServiceCommands::revoke);
  revoke->add_option("SERVICE", service_, "a service you own (s... id)")->required();
  revoke->add_option("--provider", revoke_keys_, "revoke every delegation to this node key (repeatable, at most 16)");
  revoke->add_option("--below-serial", below_serial_,
                     "revoke every delegation with a lower serial (`service delegate` prints it)");
  revoke->add_option("--hours", revoke_hours_, "how long the statement is published (default 24, the DHT's longest TTL)")
      ->check(CLI::Range(0.01, 24.0));
}

// What this node provides, under a certificate from the owner.
void ServiceCommands::add_provider_commands(CLI::App* service) {
  auto* serve = add(service, "serve", "publish this node as a provider of the service in a certificate",
                    &ServiceCommands::serve);
  serve->add_option("--delegation", delegation_, "the certificate from `service delegate`: hex, or @FILE")
      ->required();
  serve->add_option("--weight", weight_, "share of new flows among providers (default 1; 0 = standby)")
      ->check(CLI::Range(0, 65535));
  serve->add_option("--ttl", ttl_s_, "seconds each published record lives (default: the daemon's)")
      ->check(CLI::Range(1.0, 86400.0));
  serve->add_option("--backend", backend_, "local TCP server IP:PORT that gets the service's flows");

  auto* stop = add(service, "stop", "withdraw this node's endpoint record for SERVICE", &ServiceCommands::stop);
  stop->add_option("SERVICE", service_, "s... id")->required();

  add(service, "list", "services this node provides, and owner keys on this machine", &ServiceCommands::list);
}

// Reaching a service by ID: its providers, a flow, a forwarded TCP port.
void ServiceCommands::add_flow_commands(CLI::App& app) {
  auto* resolve = add(&app, "resolve", "the providers of SERVICE and their addresses, through the DSHT",
                      &ServiceCommands::resolve);
  resolve->add_option("SERVICE", service_, "s... id or s....bc")->required();

  auto* connect = add(&app, "connect", "stdin/stdout to SERVICE (like netcat), through the node's SOCKS5 gateway",
                      &ServiceCommands::connect);
  connect->add_option("SERVICE", service_, "s... id or s....bc")->required();

  auto* forward = add(&app, "forward", "the node accepts TCP on --listen and forwards each connection to SERVICE",
                      &ServiceCommands::forward);
  forward->add_option("SERVICE", service_, "s... id or s....bc");
  forward->add_option("--listen", listen_, "IP:PORT the node listens on, e.g. 127.0.0.1:8080");
  forward->add_flag("--list", forward_list_, "show the node's forwards instead");
  forward->add_option("--remove", forward_remove_, "stop forward ID (from --list)");
}

void ServiceCommands::add_node_commands(CLI::App& app) {
  auto* node = add_command_group(app, "node", "this node's addresses");
  auto* rebind = add(node, "rebind", "move the node (DHT, flows, published records) to a new local IP",
                     &ServiceCommands::rebind);
  rebind->add_option("--address", address_, "the new IP, e.g. 127.0.0.3 (ports stay)")->required();
}

void ServiceCommands::add_rules_commands(CLI::App& app) {
  auto* rules = add_command_group(app, "rules", "the node's service table (longest-prefix rules)");
  auto* rules_add = add(rules, "add", "add a rule, e.g. `rules add s...ID/16 forward 127.0.0.5:4001 prio 5`",
                        &ServiceCommands::rules_add);
  rules_add->add_option("RULE", rule_words_, "PREFIX ACTION [ARGS] [prio N] [weight N]")->required();
  add(rules, "list", "the rules in id order, then the default", &ServiceCommands::rules_list);
  auto* rules_remove = add(rules, "remove", "remove rule ID", &ServiceCommands::rules_remove);
  rules_remove->add_option("ID", rule_id_, "as shown by `rules list`")->required();
}

int ServiceCommands::create(const Options& o, const Endpoint& /*rpc*/) {
  if (Status s = sal::check_service_name(name_); !s.ok()) throw Failure{"NAME: " + s.message};
  const fs::path file = key_dir(key_dir_) / (name_ + ".key");
  if (fs::exists(file))
    throw Failure{file.string() + " already exists: service \"" + name_ +
                  "\" has an owner key here; keys are never overwritten (see `service list`)"};
  const KeyPair owner = owner_key_file(file);  // 0600, directory 0700
  const sal::ServiceId id = sal::service_id_of(owner.public_key(), name_);
  json::object r{{"name", name_},
                 {"service", sal::service_id_to_text(id)},
                 {"host", sal::service_host_name(id)},
                 {"owner_key", to_hex(owner.public_key().view())},
                 {"key_file", file.string()}};
  if (o.json) return print_json(r), 0;
  std::cout << table({{"service", str(r["service"])},
                      {"host name", str(r["host"])},
                      {"owner key", str(r["owner_key"])},
                      {"key file", file.string() + " (keep it secret: it signs delegations)"}});
  return 0;
}

int ServiceCommands::delegate(const Options& o, const Endpoint& /*rpc*/) {
  const sal::ServiceId id = need_service(service_);
  const std::optional<XOnlyPubKey> provider = parse_node_key(to_);
  if (!provider)
    throw Failure{"--to: expected the provider's node key, 64 hex digits as `blockcloud-cli status` prints "
                  "it on that node, got \"" + to_ + "\""};
  const auto mine = owner_of(key_dir(key_dir_), id, "delegate");
  const TimeMs now = now_ms();
  // Serial: the signing time, so a newer certificate always has a higher one.
  const sal::Delegation d =
      sal::make_delegation(mine.owner, mine.name, *provider, static_cast<std::uint64_t>(now), now - 60'000,
                           now + static_cast<TimeMs>(days_ * 86'400'000.0));
  const std::string hex = to_hex(sal::encode_delegation(d));
  if (!out_.empty()) {
    std::ofstream f(out_);
    if (!(f << hex << "\n")) throw Failure{"--out " + out_ + ": cannot write the file"};
  }
  json::object r{{"service", sal::service_id_to_text(id)},
                 {"provider_key", to_hex(provider->view())},
                 {"provider", id_to_text('n', node_id_of(*provider))},
                 {"serial", d.serial},
                 {"expires_at_ms", d.expires_at},
                 {"delegation", hex}};
  if (o.json) return print_json(r), 0;
  std::cout << table({{"service", str(r["service"])},
                      {"provider", str(r["provider"])},
                      {"valid", fmt::format("{} days", days_)},
                      {"serial", std::to_string(d.serial)}})
            << "certificate (give it to the provider: blockcloud-cli service serve --delegation ...):\n"
            << hex << "\n";
  return 0;
}

int ServiceCommands::revoke(const Options& o, const Endpoint& rpc) {
  const sal::ServiceId id = need_service(service_);
  if (revoke_keys_.empty() && below_serial_ == 0)
    throw Failure{"say what to revoke: --provider NODE_KEY (repeatable) and/or --below-serial N"};
  if (revoke_keys_.size() > sal::kMaxRevokedProviders)
    throw Failure{fmt::format("--provider: at most {} keys per statement", sal::kMaxRevokedProviders)};
  std::vector<XOnlyPubKey> keys;
  for (const auto& k : revoke_keys_) {
    const auto key = parse_node_key(k);
    if (!key)
      throw Failure{"--provider: expected a node key, 64 hex digits as `blockcloud-cli status` prints it, got \"" + k +
                    "\""};
    keys.push_back(*key);
  }
  const auto mine = owner_of(key_dir(key_dir_), id, "revoke");
  // Statement and record are signed here: the owner key never leaves this
  // machine's key directory. Sequence numbers are the signing time, so a
  // later statement replaces this one.
  const TimeMs now = now_ms();
  const auto seq = static_cast<std::uint64_t>(now);
  const sal::OwnerStatement st = sal::make_owner_statement(mine.owner, mine.name, seq, below_serial_, keys);
  const TimeMs expires = now + static_cast<TimeMs>(revoke_hours_ * 3'600'000.0);
  const routing::Record rec = sal::make_statement_record(mine.owner, st, seq, expires);
  const auto r = call(o, rpc, "service_revoke", {{"record", to_hex(routing::encode_record(rec))}});
  if (o.json) return print_json(r), 0;
  std::cout << "revoked for " << str(r.as_object().at("service")) << ": "
            << (keys.empty() ? std::string() : fmt::format("{} provider key(s)", keys.size()))
            << (keys.empty() || below_serial_ == 0 ? "" : ", ")
            << (below_serial_ ? fmt::format("serials below {}", below_serial_) : std::string())
            << "; statement on " << str(r.as_object().at("stored")) << " storage nodes, republished by the node for "
            << fmt::format("{:g}", revoke_hours_) << " h (run again to extend)\n";
  return 0;
}

int ServiceCommands::serve(const Options& o, const Endpoint& rpc) {
  json::object p{{"delegation", delegation_hex(delegation_)}, {"weight", weight_}};
  if (!backend_.empty()) {
    if (!Endpoint::parse(backend_)) throw Failure{"--backend: expected IP:PORT such as 127.0.0.1:8000, got \"" + backend_ + "\""};
    p["backend"] = backend_;
  }
  if (ttl_s_ > 0) p["ttl_s"] = static_cast<std::int64_t>(ttl_s_);
  const auto r = call(o, rpc, "service_serve", std::move(p));
  if (o.json) return print_json(r), 0;
  const auto& s = r.as_object();
  std::cout << "serving " << str(s.at("service")) << " at " << str(s.at("address")) << " (record on "
            << str(s.at("stored")) << " storage nodes)"
            << (backend_.empty() ? "; no --backend: flows are refused" : "; flows go to " + backend_) << "\n";
  return 0;
}

int ServiceCommands::stop(const Options& o, const Endpoint& rpc) {
  const auto r = call(o, rpc, "service_stop", {{"service", sal::service_id_to_text(need_service(service_))}});
  if (o.json) return print_json(r), 0;
  std::cout << "withdrawn: " << str(r.as_object().at("service")) << "\n";
  return 0;
}

int ServiceCommands::list(const Options& o, const Endpoint& rpc) {
  const auto r = call(o, rpc, "service_list");
  json::array mine;
  for (const auto& s : owned(key_dir(key_dir_)))
    mine.push_back(json::object{{"name", s.name}, {"service", sal::service_id_to_text(s.id)}});
  if (o.json) {
    json::object out = r.as_object();
    out["owned"] = std::move(mine);
    return print_json(out), 0;
  }
  std::vector<std::vector<std::string>> rows{{"provided by this node", "delegation expires in"}};
  for (const auto& s : r.as_object().at("services").as_array()) {
    const auto& so = s.as_object();
    rows.push_back({str(so.at("service")),
                    so.contains("delegation_expires_in_s")
                        ? human_duration(so.at("delegation_expires_in_s").to_number<std::int64_t>())
                        : "-"});
  }
  std::cout << table(rows);
  if (!mine.empty()) {
    std::vector<std::vector<std::string>> own{{"owned here (name)", "service"}};
    for (const auto& m : mine) own.push_back({str(m.as_object().at("name")), str(m.as_object().at("service"))});
    std::cout << "\n" << table(own);
  }
  return 0;
}

int ServiceCommands::resolve(const Options& o, const Endpoint& rpc) {
  const auto r = call(o, rpc, "resolve", {{"service", sal::service_id_to_text(need_service(service_))}});
  if (o.json) return print_json(r), 0;
  const auto& s = r.as_object();
  const auto& eps = s.at("endpoints").as_array();
  if (eps.empty()) {
    std::cout << str(s.at("service")) << ": no providers found\n";
    return 1;
  }
  std::vector<std::vector<std::string>> rows{{"provider", "addresses", "weight", "record expires in"}};
  for (const auto& e : eps) {
    const auto& eo = e.as_object();
    std::string addrs;
    for (const auto& a : eo.at("addresses").as_array()) addrs += (addrs.empty() ? "" : ",") + str(a);
    rows.push_back({str(eo.at("provider")), addrs, str(eo.at("weight")),
                    human_duration(eo.at("expires_in_s").to_number<std::int64_t>())});
  }
  std::cout << table(rows);
  return 0;
}

int ServiceCommands::rules_add(const Options& o, const Endpoint& rpc) {
  std::string line;
  for (const auto& w : rule_words_) line += (line.empty() ? "" : " ") + w;
  const auto r = call(o, rpc, "rules_add", {{"rule", line}});
  if (o.json) return print_json(r), 0;
  std::cout << "rule " << str(r.as_object().at("id")) << ": " << str(r.as_object().at("rule")) << "\n";
  return 0;
}

int ServiceCommands::rules_list(const Options& o, const Endpoint& rpc) {
  const auto r = call(o, rpc, "rules_list");
  if (o.json) return print_json(r), 0;
  std::vector<std::vector<std::string>> rows{{"id", "rule"}};
  for (const auto& x : r.as_object().at("rules").as_array())
    rows.push_back({str(x.as_object().at("id")), str(x.as_object().at("rule"))});
  rows.push_back({"default", str(r.as_object().at("default"))});
  std::cout << table(rows);
  return 0;
}

int ServiceCommands::rules_remove(const Options& o, const Endpoint& rpc) {
  const auto r = call(o, rpc, "rules_remove", {{"id", rule_id_}});
  if (o.json) return print_json(r), 0;
  std::cout << "removed rule " << str(r.as_object().at("removed")) << "\n";
  return 0;
}

int ServiceCommands::connect(const Options& o, const Endpoint& rpc) {
  const sal::ServiceId id = need_service(service_);
  const auto st = call(o, rpc, "sal_status").as_object();
  if (st.at("socks").is_null())
    throw Failure{"the node at " + o.rpc + " runs no SOCKS5 gateway (started with --socks off); restart it with "
                  "--socks IP:PORT, or point --rpc at a node that has one"};
  const auto gateway = Endpoint::parse(str(st.at("socks")));
  if (!gateway)
    throw Failure{"the node reported an unusable SOCKS5 address: " + str(st.at("socks")) +
                  "; check the --socks setting it was started with"};
  std::string err;
  const int fd = socks5_connect(*gateway, sal::service_host_name(id), err);
  if (fd < 0) throw Failure{err};
  if (pump_stdio(fd, err) != 0) throw Failure{err};
  return 0;
}

int ServiceCommands::forward(const Options& o, const Endpoint& rpc) {
  if (forward_list_) {
    const auto r = call(o, rpc, "forward_list");
    if (o.json) return print_json(r), 0;
    std::vector<std::vector<std::string>> rows{{"id", "listen", "service", "connections", "open"}};
    for (const auto& f : r.as_object().at("forwards").as_array()) {
      const auto& fo = f.as_object();
      rows.push_back({str(fo.at("id")), str(fo.at("listen")), str(fo.at("service")), str(fo.at("connections")),
                      str(fo.at("active"))});
    }
    std::cout << table(rows);
    return 0;
  }
  if (forward_remove_ != 0) {
    const auto r = call(o, rpc, "forward_remove", {{"id", forward_remove_}});
    if (o.json) return print_json(r), 0;
    std::cout << "removed forward " << str(r.as_object().at("removed")) << "\n";
    return 0;
  }
  if (service_.empty() || listen_.empty())
    throw Failure{"forward needs --listen IP:PORT and SERVICE (or --list / --remove ID)"};
  const sal::ServiceId id = need_service(service_);
  const auto r = call(o, rpc, "forward_add", {{"service", sal::service_id_to_text(id)}, {"listen", listen_}});
  if (o.json) return print_json(r), 0;
  std::cout << "forward " << str(r.as_object().at("id")) << ": " << str(r.as_object().at("listen")) << " -> "
            << str(r.as_object().at("service")) << "\n";
  return 0;
}

int ServiceCommands::rebind(const Options& o, const Endpoint& rpc) {
  const auto r = call(o, rpc, "node_rebind", {{"address", address_}});
  if (o.json) return print_json(r), 0;
  std::cout << "moved: DHT on " << str(r.as_object().at("listen")) << ", flows on "
            << str(r.as_object().at("flow_listen")) << "\n";
  return 0;
}

}  // namespace bc::cli

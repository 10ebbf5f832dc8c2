#include "ledger/genesis.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "layers/ids.hpp"
#include "ledger/pos_ledger.hpp"
#include "ledger/validators.hpp"

namespace bc::ledger {

namespace json = boost::json;

namespace {

// Reads a non-negative integer from a JSON number or decimal string.
bool read_u64(const json::value& v, std::uint64_t* out) {
  if (v.is_uint64()) return *out = v.as_uint64(), true;
  if (v.is_int64()) {
    if (v.as_int64() < 0) return false;
    return *out = static_cast<std::uint64_t>(v.as_int64()), true;
  }
  if (v.is_string()) {
    const auto& s = v.as_string();
    if (s.empty() || s.size() > 20) return false;
    unsigned __int128 acc = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      acc = acc * 10 + static_cast<unsigned>(c - '0');
    }
    if (acc > UINT64_MAX) return false;
    return *out = static_cast<std::uint64_t>(acc), true;
  }
  return false;
}

using R = Result<Genesis>;
Status bad(const std::string& what) { return fail(Error::kMalformed, "genesis: " + what); }

Status read_chain_id(const json::object& o, Genesis& g) {
  const auto* c = o.if_contains("chain_id");
  if (!c) return bad("missing chain_id");
  if (!c->is_string() || c->as_string().empty() || c->as_string().size() > 64) return bad("chain_id must be a string of 1 to 64 bytes");
  for (char ch : c->as_string())
    if (ch < 0x21 || ch > 0x7e) return bad("chain_id must be printable ASCII without spaces");
  g.params.chain_id = std::string(c->as_string());
  return {};
}

Status read_producers(const json::value& v, ChainParams& params) {
  if (!v.is_array()) return bad("params.producers must be an array of hex public keys");
  for (const auto& item : v.as_array()) {
    auto raw = item.is_string() ? from_hex(std::string(item.as_string())) : std::nullopt;
    auto pk = raw ? parse_pubkey(*raw) : std::nullopt;
    if (!pk) return bad("params.producers: each entry must be 64 hex digits of an x-only secp256k1 public key");
    params.producers.push_back(*pk);
  }
  return {};
}

bool set_staking_param(const std::string& key, std::uint64_t n, ChainParams& p, bool* known);
bool set_pos_param(const std::string& key, std::uint64_t n, ChainParams& p, bool* known);

// One numeric parameter; false when n is out of its range.
bool set_param(const std::string& key, std::uint64_t n, ChainParams& p, bool* known) {
  auto u32 = [&](std::uint32_t& f) {
    if (n == 0 || n > UINT32_MAX) return false;
    f = static_cast<std::uint32_t>(n);
    return true;
  };
  *known = true;
  if (key == "unbonding_delay") return n >= 1 && (p.unbonding_delay = n, true);
  if (key == "max_tx_bytes") return u32(p.max_tx_bytes);
  if (key == "max_receipts") return u32(p.max_receipts);
  if (key == "max_block_bytes") return u32(p.max_block_bytes);
  if (key == "max_block_txs") return u32(p.max_block_txs);
  if (key == "max_block_effects") return u32(p.max_block_effects);
  if (key == "min_fee") return p.min_fee = n, true;
  if (key == "block_reward") return p.block_reward = n, true;
  if (key == "block_interval_ms") return n >= 1 && n <= INT64_MAX && (p.block_interval_ms = static_cast<std::int64_t>(n), true);
  return set_staking_param(key, n, p, known);
}

// The staking parameters; ranges are checked as a whole by check_staking_params.
bool set_staking_param(const std::string& key, std::uint64_t n, ChainParams& p, bool* known) {
  auto u32 = [&](std::uint32_t& f) { return n <= UINT32_MAX && (f = static_cast<std::uint32_t>(n), true); };
  *known = true;
  if (key == "epoch_length") return p.epoch_length = n, true;
  if (key == "min_stake") return p.min_stake = n, true;
  if (key == "max_validators") return u32(p.max_validators);
  if (key == "evidence_slash_bps") return u32(p.evidence_slash_bps);
  if (key == "downtime_window") return u32(p.downtime_window);
  if (key == "downtime_min_signed_bps") return u32(p.downtime_min_signed_bps);
  if (key == "downtime_slash_bps") return u32(p.downtime_slash_bps);
  if (key == "downtime_jail_blocks") return p.downtime_jail_blocks = n, true;
  if (key == "proposer_bonus_bps") return u32(p.proposer_bonus_bps);
  return set_pos_param(key, n, p, known);
}

// A Proof-of-Service parameter; ranges are checked as a whole by check_pos_params.
bool set_pos_param(const std::string& key, std::uint64_t n, ChainParams& p, bool* known) {
  auto it = std::find_if(kPosParamKeys.begin(), kPosParamKeys.end(), [&](const char* k) { return key == k; });
  *known = it != kPosParamKeys.end();
  if (!*known) return false;
  auto values = pos_param_values(p.pos);
  values[static_cast<std::size_t>(it - kPosParamKeys.begin())] = n;
  return set_pos_param_values(values, p.pos);
}

Status read_params(const json::value& p, ChainParams& params) {
  if (!p.is_object()) return bad("params must be an object");
  for (const auto& [k, v] : p.as_object()) {
    std::string key(k);
    if (key == "producers") {
      if (Status s = read_producers(v, params); !s.ok()) return s;
      continue;
    }
    std::uint64_t n = 0;
    if (!read_u64(v, &n)) return bad("params." + key + " must be a non-negative integer");
    bool known = false;
    const bool in_range = set_param(key, n, params, &known);
    if (!known) return bad("unknown parameter params." + key);
    if (!in_range) return bad("params." + key + " is out of range");
  }
  return {};
}

Status read_account(const json::value& item, const std::string& where, GenesisAccount& acc) {
  if (!item.is_object()) return bad(where + " must be an object");
  const auto& ao = item.as_object();
  auto* addr = ao.if_contains("address");
  auto parsed = addr && addr->is_string() ? id_from_text('a', std::string(addr->as_string())) : std::nullopt;
  if (!parsed) return bad(where + ".address must be an account address in text form (a...)");
  acc.address = *parsed;
  if (auto* b = ao.if_contains("balance"); b && !read_u64(*b, &acc.balance)) return bad(where + ".balance must be a non-negative integer");
  if (auto* b = ao.if_contains("bonded"); b && !read_u64(*b, &acc.bonded)) return bad(where + ".bonded must be a non-negative integer");
  if (auto* k = ao.if_contains("consensus_key")) {
    auto raw = k->is_string() ? from_hex(std::string(k->as_string())) : std::nullopt;
    auto pk = raw ? parse_pubkey(*raw) : std::nullopt;
    if (!pk) return bad(where + ".consensus_key must be 64 hex digits of an x-only secp256k1 public key");
    acc.consensus_key = *pk;
  }
  return {};
}

Status read_accounts(const json::value& a, std::vector<GenesisAccount>& out) {
  if (!a.is_array()) return bad("accounts must be an array");
  std::size_t i = 0;
  for (const auto& item : a.as_array()) {
    GenesisAccount acc;
    if (Status s = read_account(item, "accounts[" + std::to_string(i++) + "]", acc); !s.ok()) return s;
    out.push_back(acc);
  }
  return {};
}

Status read_genesis(const json::object& o, Genesis& g) {
  if (Status s = read_chain_id(o, g); !s.ok()) return s;
  if (auto* t = o.if_contains("time_ms")) {
    std::uint64_t v = 0;
    if (!read_u64(*t, &v) || v > INT64_MAX) return bad("time_ms must be a non-negative integer");
    g.time = static_cast<TimeMs>(v);
  }
  if (auto* p = o.if_contains("params"))
    if (Status s = read_params(*p, g.params); !s.ok()) return s;
  if (auto* a = o.if_contains("accounts"))
    if (Status s = read_accounts(*a, g.accounts); !s.ok()) return s;
  return {};
}

}  // namespace

Result<Genesis> genesis_from_json(std::string_view text) {
  json::error_code ec;
  json::value root = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return bad("not valid JSON: " + ec.message());
  if (!root.is_object()) return bad("top level must be an object");
  Genesis g;
  if (Status s = read_genesis(root.as_object(), g); !s.ok()) return s;
  if (auto c = genesis_changes(g); !c.ok()) return std::move(c).take_status();
  return R::of(std::move(g));
}

std::string genesis_to_json(const Genesis& g) {
  json::object params;
  params["unbonding_delay"] = g.params.unbonding_delay;
  params["max_tx_bytes"] = g.params.max_tx_bytes;
  params["max_receipts"] = g.params.max_receipts;
  params["max_block_bytes"] = g.params.max_block_bytes;
  params["max_block_txs"] = g.params.max_block_txs;
  params["max_block_effects"] = g.params.max_block_effects;
  params["min_fee"] = g.params.min_fee;
  params["block_reward"] = g.params.block_reward;
  params["block_interval_ms"] = g.params.block_interval_ms;
  params["epoch_length"] = g.params.epoch_length;
  params["min_stake"] = std::to_string(g.params.min_stake);
  params["max_validators"] = g.params.max_validators;
  params["evidence_slash_bps"] = g.params.evidence_slash_bps;
  params["downtime_window"] = g.params.downtime_window;
  params["downtime_min_signed_bps"] = g.params.downtime_min_signed_bps;
  params["downtime_slash_bps"] = g.params.downtime_slash_bps;
  params["downtime_jail_blocks"] = g.params.downtime_jail_blocks;
  params["proposer_bonus_bps"] = g.params.proposer_bonus_bps;
  const auto pos = pos_param_values(g.params.pos);
  for (std::size_t i = 0; i < kPosParamCount; ++i) params[kPosParamKeys[i]] = pos[i];
  json::array producers;
  for (const auto& p : g.params.producers) producers.emplace_back(to_hex(p.view()));
  params["producers"] = std::move(producers);
  json::array accounts;
  for (const auto& a : g.accounts) {
    json::object o;
    o["address"] = address_text(a.address);
    o["balance"] = std::to_string(a.balance);
    o["bonded"] = std::to_string(a.bonded);
    if (a.consensus_key) o["consensus_key"] = to_hex(a.consensus_key->view());
    accounts.push_back(std::move(o));
  }
  json::object root;
  root["chain_id"] = g.params.chain_id;
  root["time_ms"] = g.time;
  root["params"] = std::move(params);
  root["accounts"] = std::move(accounts);
  return json::serialize(root);
}

Result<Genesis> load_genesis_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return R::error(fail(Error::kStorage, "cannot read genesis file " + file.string()));
  std::stringstream ss;
  ss << in.rdbuf();
  auto g = genesis_from_json(ss.str());
  if (g.ok()) return g;
  Status s = std::move(g).take_status();
  s.message = file.string() + ": " + s.message;
  return s;
}

namespace {

// The validator and key-owner entries of one genesis account.
Status genesis_validator(const GenesisAccount& a, std::set<XOnlyPubKey>& keys, std::vector<Change>& out) {
  if (!a.consensus_key) return {};
  if (!keys.insert(*a.consensus_key).second)
    return fail(Error::kMalformed, "genesis: consensus key " + to_hex(a.consensus_key->view()) + " is listed twice");
  Validator v;
  v.consensus_key = *a.consensus_key;
  out.push_back(Change{Kind::kValidator, a.address, v, encode_validator(v)});
  KeyOwner k{a.address};
  out.push_back(Change{Kind::kKeyOwner, key_owner_id(*a.consensus_key), k, encode_key_owner(k)});
  return {};
}

// Committee[0] from the genesis entries (docs/staking.md).
Change genesis_committee(const std::vector<Change>& entries) {
  State scratch;
  scratch.apply(entries);
  Committee c = compute_validator_set(WorkingState(scratch), 0);
  Bytes enc = encode_committee(c);
  return Change{Kind::kCommittee, committee_id(0), std::move(c), std::move(enc)};
}

}  // namespace

Result<std::vector<Change>> genesis_changes(const Genesis& g) {
  using RC = Result<std::vector<Change>>;
  if (std::string why = check_staking_params(g.params); !why.empty()) return RC::error(fail(Error::kMalformed, "genesis: params." + why));
  if (std::string why = check_pos_params(g.params.pos); !why.empty()) return RC::error(fail(Error::kMalformed, "genesis: params." + why));
  std::vector<Change> out;
  std::set<Address> seen;
  std::set<XOnlyPubKey> keys;
  Supply supply;
  for (const auto& a : g.accounts) {
    if (!seen.insert(a.address).second)
      return RC::error(fail(Error::kMalformed, "genesis: account " + address_text(a.address) + " is listed twice"));
    if (!checked_add(supply.minted, a.balance, &supply.minted) || !checked_add(supply.minted, a.bonded, &supply.minted))
      return RC::error(fail(Error::kOverflow, "genesis: total supply exceeds 2^64-1"));
    Account acc{a.balance, 0, a.bonded};
    out.push_back(Change{Kind::kAccount, a.address, acc, encode_account(acc)});
    if (Status s = genesis_validator(a, keys, out); !s.ok()) return RC::error(std::move(s));
  }
  out.push_back(Change{Kind::kSupply, Hash256{}, supply, encode_supply(supply)});
  out.push_back(Change{Kind::kParams, Hash256{}, g.params, encode_params(g.params)});
  out.push_back(genesis_committee(out));
  return RC::of(std::move(out));
}

Block genesis_block(const Genesis& g, const Hash256& state_root) {
  Block b;
  b.header.chain_id = g.params.chain_id;
  b.header.height = 0;
  b.header.time = g.time;
  b.header.state_root = state_root;
  return b;
}

KeyPair test_key(std::uint64_t seed, std::uint64_t index) {
  for (std::uint64_t attempt = 0;; ++attempt) {
    Bytes buf;
    append_be64(buf, seed);
    append_be64(buf, index);
    append_be64(buf, attempt);
    Hash256 secret = tagged_hash("blockcloud/test-key/v1", buf);
    if (auto kp = KeyPair::from_secret(secret.view())) return *kp;
  }
}

TestGenesis make_test_genesis(std::size_t accounts, Amount balance, std::uint64_t seed, std::string chain_id) {
  TestGenesis t;
  t.genesis.params.chain_id = std::move(chain_id);
  for (std::size_t i = 0; i < accounts; ++i) {
    KeyPair k = test_key(seed, i);
    t.genesis.accounts.push_back(GenesisAccount{address_of(k.public_key()), balance, 0});
    t.keys.push_back(k);
  }
  return t;
}

}  // namespace bc::ledger

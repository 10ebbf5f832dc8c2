#include "apps/cli/storage_cmds.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include "apps/cli/format.hpp"
#include "apps/cli/progress.hpp"
#include "apps/cli/storage_files.hpp"
#include "apps/cli/storage_pay.hpp"
#include "apps/storage/messages.hpp"
#include "apps/storage/net/storage_node.hpp"
#include "apps/storage/placement.hpp"
#include "apps/storage/put_journal.hpp"
#include "sal/records/service_id.hpp"

namespace bc::cli {
namespace fs = std::filesystem;
namespace json = boost::json;
using storage::ProviderAd;

namespace {

TimeMs now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void check(const Status& s, const std::string& what) {
  if (!s.ok()) throw Failure{what + ": " + s.message};
}

// The embedded node, joined through the daemon (or --bootstrap).
struct Session {
  boost::asio::io_context io;
  std::unique_ptr<storage::StorageNode> node;
  TimeMs timeout_ms = 0;
  ~Session() { node.reset(); }

  std::vector<ProviderAd> directory() {
    auto ads = node->providers(timeout_ms);
    check(ads.status(), "reading the storage directory");
    return std::move(ads).value();
  }
  // Listed providers, from up to kSpareLookups directory lookups merged
  // until `need` outside `exclude` are found: a lookup that met dead nodes
  // (the very providers being replaced) can miss some advertisements.
  std::map<sal::ServiceId, ProviderAd> listed(const std::set<sal::ServiceId>& exclude, std::size_t need) {
    constexpr int kSpareLookups = 5;
    std::map<sal::ServiceId, ProviderAd> found;
    std::size_t spares = 0;
    for (int i = 0; i < kSpareLookups && spares < need; ++i)
      for (auto& a : directory())
        if (found.emplace(a.service, a).second && !exclude.contains(a.service)) ++spares;
    return found;
  }
  // Placement candidates for these ads (placement.hpp): clusters from the
  // ads, the level we share from our DHT contacts, and a tie break.
  std::vector<storage::PlacementCandidate> candidates(const std::vector<ProviderAd>& ads,
                                                      const std::function<std::uint64_t(const ProviderAd&)>& tiebreak) {
    const std::vector<int> levels = node->cluster_levels(ads);
    std::vector<storage::PlacementCandidate> out;
    for (std::size_t i = 0; i < ads.size(); ++i) out.push_back({ads[i].cluster1, ads[i].cluster2, levels[i], tiebreak(ads[i])});
    return out;
  }
};

std::vector<Endpoint> bootstrap_of(const Options& o, const Endpoint& rpc, const std::vector<std::string>& flags) {
  std::vector<Endpoint> seeds;
  for (const auto& s : flags) {
    auto ep = Endpoint::parse(s);
    if (!ep) throw Failure{"--bootstrap \"" + s + "\": expected IP:PORT, e.g. 127.0.0.2:9000"};
    seeds.push_back(*ep);
  }
  if (!seeds.empty()) return seeds;
  const auto st = call(o, rpc, "status");
  auto ep = Endpoint::parse(std::string(st.at("listen").as_string()));
  if (!ep) throw Failure{"the daemon's status has no DHT address; pass --bootstrap IP:PORT"};
  return {*ep};
}

// The transport's providers from `first` on that answer a request (an audit
// of a shard nobody has: any answer will do), in order. A listed
// advertisement outlives a dead provider until its TTL runs out.
std::vector<std::size_t> answering(storage::SalTransport& transport, std::size_t first) {
  std::vector<storage::ShardTransport::Call> probes;
  for (std::size_t i = first; i < transport.providers(); ++i)
    probes.push_back({i, storage::encode_request({i, storage::AuditRequest{storage::ShardId{}, Hash256{}}})});
  std::set<std::size_t> answered;
  for (const auto& a : transport.exchange(std::move(probes))) answered.insert(a.provider);
  return {answered.begin(), answered.end()};
}

std::unique_ptr<Session> open_session(const Options& o, const Endpoint& rpc, const std::vector<std::string>& bootstrap,
                                      const std::string& bind) {
  auto ip = Endpoint::parse_ip(bind, 0);
  if (!ip) throw Failure{"--bind \"" + bind + "\": expected an IP address"};
  auto s = std::make_unique<Session>();
  s->timeout_ms = static_cast<TimeMs>(o.timeout_s * 1000);
  s->node = std::make_unique<storage::StorageNode>(s->io, bootstrap_of(o, rpc, bootstrap), *ip);
  check(s->node->join(s->timeout_ms), "joining the network");
  return s;
}

// k + m listed providers with room for one shard of every segment, spread
// over Coral clusters (placement.hpp); equal candidates in random order.
std::vector<sal::ServiceId> choose_providers(Session& session, std::vector<ProviderAd> ads, std::size_t count,
                                             std::uint64_t per_provider) {
  std::erase_if(ads, [&](const ProviderAd& a) { return a.free_bytes < per_provider; });
  if (ads.size() < count)
    throw Failure{fmt::format("{} storage providers with {} free are listed; this needs {} (start more, e.g. "
                              "`blockcloud-devnet up --storage-providers 8`, or lower --parity-shards)",
                              ads.size(), human_bytes(per_provider), count)};
  std::mt19937_64 rng(std::random_device{}());
  auto picked = storage::choose_placement(session.candidates(ads, [&](const ProviderAd&) { return rng(); }), count);
  check(picked.status(), "choosing providers");
  std::vector<sal::ServiceId> out;
  for (std::size_t i : *picked) out.push_back(ads[i].service);
  return out;
}

json::array escrow_ids_json(const std::vector<storage::ProviderEscrow>& escrows) {
  json::array a;
  for (const auto& x : escrows)
    a.push_back(json::object{{"shard", x.shard}, {"id", x.id.hex()}, {"provider", ledger::address_text(x.provider)},
                             {"amount", std::to_string(x.amount)}});
  return a;
}

// A get's sources by nearness: one probe per provider measures the RTT over
// its flow (the flows are then open for the get itself).
void measure_nearness(storage::SalTransport& transport, storage::StorageClient& client) {
  constexpr TimeMs kGraceMs = 60;  // Coral's level-1 threshold: a slower answer is far anyway
  const Bytes probe = storage::encode_request({0, storage::AuditRequest{storage::ShardId{}, Hash256{}}});
  client.set_nearness(transport.measure_rtts(probe, kGraceMs));
}

storage::Source file_source(std::ifstream& in, Progress& progress) {
  return [&in, &progress](std::span<std::uint8_t> out) -> Result<std::size_t> {
    in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
    if (in.bad()) return Status(make_error_code(Errc::kIo), "reading the file failed");
    const auto n = static_cast<std::size_t>(in.gcount());
    progress.add(n);
    return n;
  };
}

std::string down_report(const storage::SalTransport& t) {
  std::string s;
  for (std::size_t i = 0; i < t.providers(); ++i)
    if (t.down(i)) s += "\n  provider " + sal::service_id_to_text(t.service(i)) + ": " + t.why_down(i);
  return s;
}

// What a get read instead of the plain data shards, "" when nothing. A
// provider the nearness probe found down is never asked (fetch_order puts
// it last), so its loss shows as decoded segments, not as missing shards.
std::string degraded_report(const storage::PipelineStats& st, const storage::SalTransport& t) {
  if (st.decodes + st.missing_shards + st.bad_shards == 0) return "";
  return fmt::format("{} segments decoded from parity; {} shards missing and {} bad were replaced by others{}\n",
                     st.decodes, st.missing_shards, st.bad_shards, down_report(t));
}

struct RepairTargets {
  std::unique_ptr<storage::SalTransport> transport;  // the file's providers, then the listed spares
  std::vector<std::size_t> replacements;             // transport index per lost shard
  std::vector<ProviderAd> replacement_ads;           // their advertisements (account, price)
};

// The listed providers outside the file's, and which of them answer.
struct Spares {
  std::map<sal::ServiceId, ProviderAd> listed;       // every listed provider
  std::vector<ProviderAd> ads;                       // the listed ones outside the file's providers
  std::unique_ptr<storage::SalTransport> transport;  // the file's providers, then `ads`
  std::vector<std::size_t> alive;                    // transport indexes of the spares that answer
};

// Spares until `need` answer, looked for in up to kSpareRounds rounds two
// seconds apart: just after providers die, directory lookups and connections
// still meet them and can miss a live spare that a later look finds.
Spares find_spares(Session& session, const std::vector<sal::ServiceId>& providers, std::size_t need) {
  constexpr int kSpareRounds = 3;
  const std::set<sal::ServiceId> current(providers.begin(), providers.end());
  Spares s;
  for (int round = 1;; ++round) {
    s.listed = session.listed(current, need + 2);
    s.ads.clear();
    for (const auto& [id, a] : s.listed)
      if (!current.contains(id)) s.ads.push_back(a);
    std::vector<sal::ServiceId> all = providers;
    for (const auto& a : s.ads) all.push_back(a.service);
    s.transport = session.node->transport(all);
    s.alive = answering(*s.transport, providers.size());
    if (s.alive.size() >= need) return s;
    if (round == kSpareRounds)
      throw Failure{fmt::format("{} shard(s) to rebuild but {} other provider(s) answer ({} listed, {} looks); "
                                "start more providers{}",
                                need, s.alive.size(), s.ads.size(), kSpareRounds, down_report(*s.transport))};
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
}

// Replacements for the lost shards among the listed spares that answer,
// spread over clusters together with the surviving providers
// (placement.hpp); most free space first among equals.
RepairTargets repair_targets(Session& session, const std::vector<sal::ServiceId>& providers,
                             const std::vector<std::uint32_t>& lost) {
  Spares found = find_spares(session, providers, lost.size());
  const auto& listed = found.listed;
  const auto& spares = found.ads;
  RepairTargets out;
  out.transport = std::move(found.transport);
  std::vector<ProviderAd> ads;         // the survivors (fixed), then the answering spares
  std::vector<std::size_t> transport;  // candidate -> transport index
  for (std::size_t j = 0; j < providers.size(); ++j) {
    if (std::find(lost.begin(), lost.end(), j) != lost.end()) continue;
    auto it = listed.find(providers[j]);
    ProviderAd unlisted;  // no clusters known: a cluster of its own
    unlisted.service = providers[j];
    ads.push_back(it != listed.end() ? it->second : unlisted);
    transport.push_back(j);
  }
  std::vector<std::size_t> fixed(ads.size());
  std::iota(fixed.begin(), fixed.end(), std::size_t{0});
  for (std::size_t i : found.alive) {
    ads.push_back(spares[i - providers.size()]);
    transport.push_back(i);
  }
  auto picked = storage::choose_placement(
      session.candidates(ads, [](const ProviderAd& a) { return UINT64_MAX - a.free_bytes; }), lost.size(), fixed);
  check(picked.status(), "choosing replacement providers");
  for (std::size_t c : *picked) {
    out.replacements.push_back(transport[c]);
    out.replacement_ads.push_back(ads[c]);
  }
  return out;
}

}  // namespace

StorageCommands::StorageCommands(CLI::App& app, CommandTable& commands, StoragePayer payer)
    : commands_(commands), payer_(std::move(payer)) {
  auto* st = add_command_group(app, "storage", "store files on the network: encrypted here, erasure-coded over providers");
  st->add_option("--storage-dir", dir_, "master key and file records (default ~/.blockcloud/storage)");
  st->add_option("--bootstrap", bootstrap_, "IP:PORT of a node to join through (default: the daemon's DHT address)");
  st->add_option("--bind", bind_, "local IP of the embedded node's sockets (default 127.0.0.1)");
  auto* put = add(st, "put", "store FILE; prints its ID", &StorageCommands::put);
  put->add_option("FILE", file_, "the file to store")->required()->check(CLI::ExistingFile);
  put->add_flag("--resume", resume_, "finish an interrupted put of FILE, sending only what is missing");
  put->add_option("--name", name_, "a name kept in the encrypted manifest (default: FILE's name)");
  put->add_option("--data-shards,-k", data_shards_, "k: shards a segment needs (default 4)")->check(CLI::Range(1, 32));
  put->add_option("--parity-shards,-m", parity_shards_, "m: providers that may be lost (default 2)")->check(CLI::Range(0, 32));
  put->add_option("--segment-mib", segment_mib_, "segment size in MiB (default 4)")->check(CLI::Range(1, 16));
  put->add_option("--days", days_, "how long providers keep it, paid (default 30)")->check(CLI::Range(0.0001, 3650.0));
  put->add_option("--payment-grace-s", payment_grace_s_,
                  "seconds the escrows stay open after the period, for the last receipt and its claim (default 3600)")
      ->check(CLI::Range(0.0, 30.0 * 86400));
  payer_.add_from(put);
  auto* get = add(st, "get", "fetch ID, check every shard, decrypt", &StorageCommands::get);
  get->add_option("ID", id_, "file ID (f...) or a unique prefix")->required();
  get->add_option("-o,--output", out_, "write here (default: standard output)");
  add(st, "ls", "files stored from this storage directory", &StorageCommands::ls);
  add(st, "rm", "delete every shard of ID from its providers", &StorageCommands::rm)
      ->add_option("ID", id_, "file ID or a unique prefix")->required();
  add(st, "status", "where ID's shards are and whether their providers are listed", &StorageCommands::status)
      ->add_option("ID", id_, "file ID or a unique prefix")->required();
  add(st, "verify", "audit every shard of ID with fresh Merkle challenges", &StorageCommands::verify)
      ->add_option("ID", id_, "file ID or a unique prefix")->required();
  auto* repair = add(st, "repair", "rebuild ID's failed shards on new providers (and pay them instead)", &StorageCommands::repair);
  repair->add_option("ID", id_, "file ID or a unique prefix")->required();
  payer_.add_from(repair);
  add(st, "providers", "the storage providers listed in the directory", &StorageCommands::providers);
  auto* pay = add(st, "pay", "audit ID, send each provider that passed the receipt it earned, close expired escrows",
                  &StorageCommands::pay);
  pay->add_option("ID", id_, "file ID or a unique prefix")->required();
  payer_.add_from(pay);
}

CLI::App* StorageCommands::add(CLI::App* parent, const std::string& name, const std::string& help, Method method) {
  return commands_.add(parent, name, help,
                       [this, method](const Options& o, const Endpoint& rpc) { return (this->*method)(o, rpc); });
}

int StorageCommands::put(const Options& o, const Endpoint& rpc) {
  const StorageDir dir(dir_);
  const Key256 master = dir.master_key(true);
  const std::string source = fs::absolute(file_).string();
  const std::uint64_t size = fs::file_size(source);
  auto pending = dir.load_pending(source);
  if (resume_ && !pending) throw Failure{"no unfinished put of " + file_ + " to resume; run it without --resume"};
  if (!resume_ && pending) dir.drop_pending(source);  // a fresh start: the earlier attempt's shards expire unpaid
  auto session = open_session(o, rpc, bootstrap_, bind_);
  PendingPut p;
  if (resume_) {
    p = *pending;
  } else {
    p = {source, name_.empty() ? fs::path(file_).filename().string() : name_, segment_mib_ << 20, data_shards_,
         parity_shards_, now_ms() + static_cast<TimeMs>(days_ * 86'400'000), {}};
    const storage::Shape shape{size, p.segment_size, p.data_shards, p.parity_shards};
    const std::uint64_t per_provider = shape.segment_count() * shape.max_shard_size();
    const auto ads = session->directory();
    p.providers = choose_providers(*session, ads, p.data_shards + p.parity_shards, per_provider);
    for (const auto& id : p.providers) {
      const auto ad = std::find_if(ads.begin(), ads.end(), [&](const ProviderAd& a) { return a.service == id; });
      p.accounts.push_back(provider_account(*ad));
      p.prices.push_back(ad->price);
    }
    dir.save_pending(p);
  }
  auto journal = storage::PutJournal::open(dir.journal_path(source));
  check(journal.status(), "opening the put journal");
  // Escrows are planned and journaled before any shard is sent (docs/storage.md "Payment").
  PutPayment payment = plan_put_payment(o, rpc, payer_.key, p, size, *journal, now_ms());
  if (!payment.note.empty()) std::cerr << "note: " << payment.note << "\n";
  auto transport = session->node->transport(p.providers);
  storage::StorageClient client(master, *transport);
  storage::PutOptions opts{p.segment_size, p.data_shards, p.parity_shards, p.name, p.expires_at, {}, payment.ids(p.providers.size())};
  for (std::size_t j = 0; j < p.providers.size(); ++j) opts.placement.push_back(j);
  opts.on_journal_begun = [&payment](storage::PutJournal& j) {
    return payment.escrows.empty() ? Status::success() : j.record_escrows(payment.escrows);
  };
  std::ifstream in(source, std::ios::binary);
  if (!in) throw Failure{"cannot read " + source};
  Progress progress("put", size);
  auto stored = client.put(file_source(in, progress), opts, now_ms(), &*journal);
  progress.finish();
  if (!stored.ok())
    throw Failure{"put failed: " + stored.status().message + down_report(*transport) +
                  "\nwhat was confirmed is kept: `blockcloud-cli storage put --resume " + file_ + "` finishes it"};
  FileEntry e{stored->cid, p.name, size, stored->envelope, p.providers, now_ms(), p.expires_at, {}, {}, {}};
  if (!payment.escrows.empty()) {  // the shards are confirmed: open the escrows committing their roots
    auto m = storage::open_manifest(master, stored->envelope);
    check(m.status(), "opening the manifest just made");
    open_escrows(*payment.ledger, *payment.payer, payment.escrows, *m, p.expires_at - now_ms(),
                 static_cast<TimeMs>(payment_grace_s_ * 1000));
    e.payer = ledger::address_text(payment.payer->address);
    e.escrows = payment.escrows;
  }
  dir.save(e);
  check(journal->finish(), "removing the finished put journal");
  dir.drop_pending(source);
  const auto& st = client.stats();
  if (o.json)
    return print_json(json::object{{"id", cid_text(e.cid)}, {"size", size}, {"segments", st.segments},
                                   {"shards_sent", st.shards_sent}, {"segments_resumed", st.segments_resumed},
                                   {"escrows", escrow_ids_json(e.escrows)}}),
           0;
  std::cout << cid_text(e.cid) << "\n";
  std::cerr << fmt::format("stored {} ({}) as {}+{} shards on {} providers{}{}\n", p.name, human_bytes(size),
                           p.data_shards, p.parity_shards, p.providers.size(),
                           st.segments_resumed ? fmt::format(", {} segments resumed", st.segments_resumed) : "",
                           e.escrows.empty() ? "" : fmt::format(", paid through {} escrows", e.escrows.size()));
  return 0;
}

int StorageCommands::get(const Options& o, const Endpoint& rpc) {
  const StorageDir dir(dir_);
  const FileEntry e = dir.find(id_);
  const Key256 master = dir.master_key(false);
  auto session = open_session(o, rpc, bootstrap_, bind_);
  auto transport = session->node->transport(e.providers);
  storage::StorageClient client(master, *transport);
  measure_nearness(*transport, client);
  const fs::path part = out_.empty() ? fs::path() : fs::path(out_ + ".part");
  std::ofstream file;
  if (!out_.empty()) {
    file.open(part, std::ios::binary | std::ios::trunc);
    if (!file) throw Failure{"cannot write " + part.string()};
  }
  std::ostream& out = out_.empty() ? std::cout : file;
  Progress progress("get", e.size);
  const Status s = client.get(e.stored(), [&](ByteView data) {
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    progress.add(data.size());
    return out ? Status::success() : Status(make_error_code(Errc::kIo), "writing the output failed");
  });
  progress.finish();
  if (!s.ok()) {
    if (!out_.empty()) fs::remove(part);
    throw Failure{"get failed: " + s.message + down_report(*transport)};
  }
  out.flush();
  if (!out_.empty()) {
    file.close();
    fs::rename(part, out_);
  }
  std::cerr << degraded_report(client.stats(), *transport);
  return 0;
}

int StorageCommands::ls(const Options& o, const Endpoint&) {
  const auto files = StorageDir(dir_).list();
  if (o.json) {
    json::array a;
    for (const auto& e : files)
      a.push_back(json::object{{"id", cid_text(e.cid)}, {"name", e.name}, {"size", e.size},
                               {"providers", e.providers.size()}, {"expires_at_ms", e.expires_at}});
    return print_json(a), 0;
  }
  std::vector<std::vector<std::string>> rows{{"ID", "NAME", "SIZE", "PROVIDERS", "EXPIRES IN"}};
  for (const auto& e : files)
    rows.push_back({cid_text(e.cid), e.name, human_bytes(e.size), std::to_string(e.providers.size()),
                    human_duration(std::max<TimeMs>(0, e.expires_at - now_ms()) / 1000)});
  std::cout << table(rows) << fmt::format("{} file(s)\n", files.size());
  return 0;
}

int StorageCommands::rm(const Options& o, const Endpoint& rpc) {
  const StorageDir dir(dir_);
  const FileEntry e = dir.find(id_);
  auto session = open_session(o, rpc, bootstrap_, bind_);
  auto transport = session->node->transport(e.providers);
  storage::StorageClient client(dir.master_key(false), *transport);
  const auto kept = client.remove(e.stored());
  const std::string down = down_report(*transport);
  // Shards on providers that are gone cannot be deleted; they expire unpaid.
  if (!kept.ok() && down.empty()) throw Failure{"deleting the shards: " + kept.status().message};
  dir.remove(e.cid);
  std::cout << "removed " << cid_text(e.cid) << "\n";
  if (kept.ok() && *kept > 0) std::cout << *kept << " shard(s) stay on providers whose offers commit to them, until those end\n";
  // The record was the only list of its escrows: say how to get their rest back.
  const std::size_t open = e.escrows.size() + e.dropped_escrows.size();
  if (open > 0)
    std::cout << fmt::format("its {} escrow(s) stay open until they expire; then `blockcloud-cli escrow close ID` returns "
                             "what is left:\n", open);
  for (const auto* list : {&e.escrows, &e.dropped_escrows})
    for (const auto& x : *list) std::cout << "  " << x.id.hex() << "\n";
  if (!kept.ok())
    std::cerr << "some providers did not answer; their shards are left to expire in "
              << human_duration(std::max<TimeMs>(0, e.expires_at - now_ms()) / 1000) << ":" << down << "\n";
  return 0;
}

int StorageCommands::status(const Options& o, const Endpoint& rpc) {
  const StorageDir dir(dir_);
  const FileEntry e = dir.find(id_);
  auto session = open_session(o, rpc, bootstrap_, bind_);
  std::map<sal::ServiceId, ProviderAd> listed;
  for (auto& a : session->directory()) listed[a.service] = a;
  std::cout << table({{"id", cid_text(e.cid)},
                      {"name", e.name},
                      {"size", human_bytes(e.size)},
                      {"expires in", human_duration(std::max<TimeMs>(0, e.expires_at - now_ms()) / 1000)}});
  std::vector<std::vector<std::string>> rows{{"SHARD", "PROVIDER", "LISTED", "FREE"}};
  std::size_t unlisted = 0;
  for (std::size_t j = 0; j < e.providers.size(); ++j) {
    auto it = listed.find(e.providers[j]);
    unlisted += it == listed.end();
    rows.push_back({std::to_string(j), sal::service_id_to_text(e.providers[j]), it == listed.end() ? "no" : "yes",
                    it == listed.end() ? "-" : human_bytes(it->second.free_bytes)});
  }
  std::cout << table(rows)
            << (unlisted ? fmt::format("{} provider(s) not listed: run `storage verify` and `storage repair`\n", unlisted)
                         : std::string("every provider is listed (`storage verify` audits the shards)\n"));
  return 0;
}

int StorageCommands::verify(const Options& o, const Endpoint& rpc) {
  const StorageDir dir(dir_);
  const FileEntry e = dir.find(id_);
  auto session = open_session(o, rpc, bootstrap_, bind_);
  auto transport = session->node->transport(e.providers);
  storage::StorageClient client(dir.master_key(false), *transport);
  auto health = client.verify(e.stored());
  check(health.status(), "verify");
  std::vector<std::vector<std::string>> rows{{"SHARD", "PROVIDER", "FAILED SEGMENTS"}};
  for (std::size_t j = 0; j < e.providers.size(); ++j)
    rows.push_back({std::to_string(j), sal::service_id_to_text(e.providers[j]), std::to_string(health->failed[j])});
  std::cout << table(rows);
  const auto bad = health->unhealthy();
  if (bad.empty()) {
    std::cout << fmt::format("healthy: {} audits passed\n", health->audits);
    return 0;
  }
  std::cout << fmt::format("{} of {} shards failed; {}\n", bad.size(), e.providers.size(),
                           health->recoverable() ? "recoverable: run `storage repair`"
                                                 : "NOT recoverable: some segment has fewer than k good shards");
  // A provider that could not be reached fails every audit; say why.
  const std::string down = down_report(*transport);
  if (!down.empty()) std::cout << "unreachable:" << down << "\n";
  return 1;
}

int StorageCommands::repair(const Options& o, const Endpoint& rpc) {
  const StorageDir dir(dir_);
  FileEntry e = dir.find(id_);
  auto session = open_session(o, rpc, bootstrap_, bind_);
  std::vector<std::uint32_t> lost;
  {
    auto current = session->node->transport(e.providers);
    storage::StorageClient checker(dir.master_key(false), *current);
    auto health = checker.verify(e.stored());
    check(health.status(), "verify");
    lost = health->unhealthy();
    if (lost.empty()) return std::cout << "healthy: nothing to repair\n", 0;
    if (!health->recoverable()) throw Failure{"not recoverable: some segment has fewer than k good shards"};
  }
  auto [transport, replacements, replacement_ads] = repair_targets(*session, e.providers, lost);
  const RepairPayment payment = plan_repair_payment(o, rpc, payer_.key, e, lost, replacement_ads, dir.master_key(false), now_ms());
  storage::StorageClient client(dir.master_key(false), *transport);
  Progress progress("repair", e.size);
  auto repaired = client.repair(e.stored(), lost, replacements, e.expires_at, payment.ids());
  progress.finish();
  if (!repaired.ok()) throw Failure{"repair failed: " + repaired.status().message + down_report(*transport)};
  for (std::size_t j = 0; j < e.providers.size(); ++j) e.providers[j] = transport->service(repaired->placement[j]);
  dir.save(e);  // the new placement first: what is stored where matters more than who is paid
  const std::string paid = repay_after_repair(payment, e, lost, dir.master_key(false), now_ms());
  dir.save(e);
  if (!paid.empty()) std::cout << paid << "\n";
  std::cout << fmt::format("repaired {} shard(s) of {}: {} rebuilt\n", lost.size(), cid_text(e.cid),
                           client.stats().shards_repaired);
  return 0;
}

int StorageCommands::providers(const Options& o, const Endpoint& rpc) {
  auto session = open_session(o, rpc, bootstrap_, bind_);
  const auto ads = session->directory();
  if (o.json) {
    json::array a;
    for (const auto& ad : ads)
      a.push_back(json::object{{"service", sal::service_id_to_text(ad.service)}, {"capacity_bytes", ad.capacity_bytes},
                               {"free_bytes", ad.free_bytes}, {"price", ad.price}});
    return print_json(a), 0;
  }
  std::vector<std::vector<std::string>> rows{{"SERVICE", "CAPACITY", "FREE", "PRICE/GiB/DAY"}};
  for (const auto& ad : ads)
    rows.push_back({sal::service_id_to_text(ad.service), human_bytes(ad.capacity_bytes), human_bytes(ad.free_bytes),
                    std::to_string(ad.price)});
  std::cout << table(rows) << fmt::format("{} provider(s)\n", ads.size());
  return 0;
}

int StorageCommands::pay(const Options& o, const Endpoint& rpc) {
  const StorageDir dir(dir_);
  FileEntry e = dir.find(id_);
  if (e.escrows.empty() && e.dropped_escrows.empty())
    return std::cout << "no open escrows (stored without a ledger or price, or all closed): nothing to pay\n", 0;
  const auto ledger = ledger_link(o, rpc);
  if (!ledger) throw Failure{"the daemon runs no ledger; pay through a node of the chain the escrows are on (--rpc)"};
  const WalletKey payer = payer_.key();
  if (ledger::address_text(payer.address) != e.payer)
    throw Failure{"the escrows were opened by " + e.payer + "; pass --from with that wallet key"};
  bool healthy = true;
  std::vector<Hash256> receipt_sent_now;
  if (!e.escrows.empty()) {
    const auto before = e.escrows;
    healthy = send_receipts(o, rpc, *ledger, payer, dir, e);
    for (std::size_t i = 0; i < e.escrows.size(); ++i)
      if (e.escrows[i].paid > before[i].paid) receipt_sent_now.push_back(e.escrows[i].id);
    dir.save(e);  // what the providers took, before any escrow is closed
  }
  const auto closed = close_expired_escrows(*ledger, payer, e, receipt_sent_now);
  dir.save(e);
  for (const auto& line : closed) std::cout << line << "\n";
  return healthy ? 0 : 1;
}

// Audits the file while its period lasts (after it, the providers may have
// collected the shards: the last run's audit decides the final receipt) and
// sends the receipts due; prints the table. False when a shard failed.
bool StorageCommands::send_receipts(const Options& o, const Endpoint& rpc, const LedgerLink& ledger, const WalletKey& payer,
                                    const StorageDir& dir, FileEntry& e) {
  auto session = open_session(o, rpc, bootstrap_, bind_);
  auto transport = session->node->transport(e.providers);
  std::optional<storage::FileHealth> health;
  const TimeMs now = now_ms();
  if (now < e.expires_at) {
    storage::StorageClient client(dir.master_key(false), *transport);
    auto h = client.verify(e.stored());
    check(h.status(), "verify before paying");
    health = std::move(*h);
  }
  auto rows = pay_providers(ledger, payer, e, health ? &*health : nullptr, *transport, now);
  rows.insert(rows.begin(), {"SHARD", "ESCROW", "PAID", "NOW"});
  std::cout << table(rows);
  return !health || health->unhealthy().empty();
}

}  // namespace bc::cli

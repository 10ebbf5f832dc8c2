#include "apps/cli/storage_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <numeric>
#include <sstream>

#include <boost/json.hpp>

#include "apps/cli/rpc.hpp"
#include "layers/crypto.hpp"
#include "layers/ids.hpp"
#include "layers/private_dir.hpp"
#include "sal/records/service_id.hpp"

namespace bc::cli {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {
std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Failure{"cannot read " + file.string()};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Written whole or not at all (a crash leaves the old file).
void write_atomically(const fs::path& file, const std::string& text) {
  const fs::path tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text << "\n";
    out.flush();
    if (!out) throw Failure{"cannot write " + tmp.string() + "; check the disk and --storage-dir"};
  }
  fs::rename(tmp, file);
}

json::array services_json(const std::vector<sal::ServiceId>& ids) {
  json::array a;
  for (const auto& id : ids) a.emplace_back(sal::service_id_to_text(id));
  return a;
}

std::vector<sal::ServiceId> services_from(const json::value& v, const fs::path& file) {
  std::vector<sal::ServiceId> ids;
  for (const auto& s : v.as_array()) {
    auto p = sal::parse_service_id(std::string(s.as_string()));
    if (!p.ok()) throw Failure{file.string() + ": a provider is not a service ID (" + p.status().message + ")"};
    ids.push_back(*p);
  }
  return ids;
}

using storage::LastAudit;

const char* audit_text(LastAudit a) {
  return a == LastAudit::kPassed ? "passed" : a == LastAudit::kFailed ? "failed" : "none";
}

LastAudit audit_from(const std::string& s) {
  if (s == "passed") return LastAudit::kPassed;
  if (s == "failed") return LastAudit::kFailed;
  if (s == "none") return LastAudit::kNone;
  throw std::invalid_argument("last_audit is not passed, failed or none");
}

json::array escrows_json(const std::vector<storage::ProviderEscrow>& escrows) {
  json::array a;
  for (const auto& e : escrows)
    a.push_back(json::object{{"shard", e.shard}, {"id", e.id.hex()}, {"nonce", e.nonce}, {"provider", e.provider.hex()},
                             {"amount", std::to_string(e.amount)}, {"paid", std::to_string(e.paid)},
                             {"last_audit", audit_text(e.last_audit)}});
  return a;
}

Hash256 hash_from(const json::value& v) {
  auto h = Hash256::from_hex(std::string(v.as_string()));
  if (!h) throw std::invalid_argument("not 64 hex digits");
  return *h;
}

std::vector<storage::ProviderEscrow> escrows_from(const json::object& o, const char* key) {
  std::vector<storage::ProviderEscrow> out;
  if (!o.contains(key)) return out;  // a record from before payment
  for (const auto& v : o.at(key).as_array()) {
    const auto& e = v.as_object();
    out.push_back({e.at("shard").to_number<std::uint32_t>(), hash_from(e.at("id")), e.at("nonce").to_number<std::uint64_t>(),
                   hash_from(e.at("provider")), std::stoull(std::string(e.at("amount").as_string())),
                   std::stoull(std::string(e.at("paid").as_string()))});
    // Absent from older records: a receipt was sent only after a passing audit.
    const auto* a = e.if_contains("last_audit");
    out.back().last_audit = a ? audit_from(std::string(a->as_string())) : out.back().paid > 0 ? LastAudit::kPassed : LastAudit::kNone;
  }
  return out;
}

json::value parse_json_file(const fs::path& file) {
  boost::system::error_code ec;
  auto v = json::parse(read_text(file), ec);
  if (ec || !v.is_object()) throw Failure{file.string() + ": not a JSON object; remove it or restore it from a backup"};
  return v;
}

FileEntry entry_from(const fs::path& file) {
  const auto v = parse_json_file(file);
  try {
    const auto& o = v.as_object();
    FileEntry e;
    auto cid = id_from_text('f', std::string(o.at("cid").as_string()));
    auto env = from_hex(std::string(o.at("envelope").as_string()));
    if (!cid || !env) throw std::invalid_argument("bad cid or envelope");
    e.cid = *cid;
    e.envelope = std::move(*env);
    e.name = std::string(o.at("name").as_string());
    e.size = o.at("size").to_number<std::uint64_t>();
    e.providers = services_from(o.at("providers"), file);
    e.stored_at = o.at("stored_at_ms").to_number<std::int64_t>();
    e.expires_at = o.at("expires_at_ms").to_number<std::int64_t>();
    if (o.contains("payer")) e.payer = std::string(o.at("payer").as_string());
    e.escrows = escrows_from(o, "escrows");
    e.dropped_escrows = escrows_from(o, "dropped_escrows");
    return e;
  } catch (const std::exception& ex) {
    throw Failure{file.string() + ": not a stored-file record (" + ex.what() + "); remove it or restore it"};
  }
}
}  // namespace

std::string cid_text(const Hash256& cid) { return id_to_text('f', cid); }

storage::StoredFile FileEntry::stored() const {
  storage::StoredFile f{cid, envelope, std::vector<std::size_t>(providers.size())};
  std::iota(f.placement.begin(), f.placement.end(), std::size_t{0});
  return f;
}

StorageDir::StorageDir(const std::string& flag) {
  if (!flag.empty()) {
    dir_ = flag;
  } else {
    const char* home = std::getenv("HOME");
    dir_ = fs::path(home ? home : ".") / ".blockcloud" / "storage";
  }
  for (const auto& d : {dir_, dir_ / "files", dir_ / "puts"})
    if (auto made = create_private_dirs(d); !made.ok()) throw Failure{made.message + " (or pass --storage-dir)"};
}

Key256 StorageDir::master_key(bool create) const {
  const fs::path file = dir_ / "master.key";
  if (!fs::exists(file)) {
    if (!create)
      throw Failure{"no master key at " + file.string() +
                    ": nothing was stored from this storage directory (pass --storage-dir if it is elsewhere)"};
    Key256 k{};
    random_bytes(k);
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw Failure{"cannot create " + file.string()};
    const std::string text = to_hex(ByteView(k.data(), k.size())) + "\n";
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) throw Failure{"cannot write " + file.string()};
    return k;
  }
  std::string text = read_text(file);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  auto bytes = from_hex(text);
  if (!bytes || bytes->size() != 32) throw Failure{file.string() + ": not a master key (64 hex digits); restore it from your backup"};
  Key256 k{};
  std::copy(bytes->begin(), bytes->end(), k.begin());
  return k;
}

void StorageDir::save(const FileEntry& e) const {
  json::object o{{"cid", cid_text(e.cid)},
                 {"name", e.name},
                 {"size", e.size},
                 {"envelope", to_hex(e.envelope)},
                 {"providers", services_json(e.providers)},
                 {"stored_at_ms", e.stored_at},
                 {"expires_at_ms", e.expires_at},
                 {"payer", e.payer},
                 {"escrows", escrows_json(e.escrows)},
                 {"dropped_escrows", escrows_json(e.dropped_escrows)}};
  write_atomically(dir_ / "files" / (cid_text(e.cid) + ".json"), json::serialize(o));
}

void StorageDir::remove(const Hash256& cid) const { fs::remove(dir_ / "files" / (cid_text(cid) + ".json")); }

std::vector<FileEntry> StorageDir::list() const {
  std::vector<FileEntry> out;
  for (const auto& f : fs::directory_iterator(dir_ / "files"))
    if (f.path().extension() == ".json") out.push_back(entry_from(f.path()));
  std::sort(out.begin(), out.end(), [](const FileEntry& a, const FileEntry& b) { return a.stored_at < b.stored_at; });
  return out;
}

FileEntry StorageDir::find(const std::string& id) const {
  if (id.size() < 6) throw Failure{"ID \"" + id + "\": give the file ID (f...) or at least its first 6 characters"};
  std::vector<FileEntry> hits;
  for (auto& e : list())
    if (cid_text(e.cid).starts_with(id)) hits.push_back(std::move(e));
  if (hits.empty()) throw Failure{"no stored file " + id + " in " + dir_.string() + " (see `storage ls`)"};
  if (hits.size() > 1) throw Failure{"ID \"" + id + "\" matches " + std::to_string(hits.size()) + " files; give more of it"};
  return std::move(hits.front());
}

fs::path StorageDir::pending_path(const std::string& source) const {
  const Hash256 tag = sha256(as_bytes(fs::absolute(source).string()));
  return dir_ / "puts" / tag.hex().substr(0, 16);
}

fs::path StorageDir::journal_path(const std::string& source) const {
  return pending_path(source).string() + ".journal";
}

std::optional<PendingPut> StorageDir::load_pending(const std::string& source) const {
  const fs::path file = pending_path(source).string() + ".json";
  if (!fs::exists(file)) return std::nullopt;
  const auto v = parse_json_file(file);
  try {
    const auto& o = v.as_object();
    PendingPut p;
    p.file = std::string(o.at("file").as_string());
    p.name = std::string(o.at("name").as_string());
    p.segment_size = o.at("segment_size").to_number<std::uint32_t>();
    p.data_shards = o.at("data_shards").to_number<std::uint32_t>();
    p.parity_shards = o.at("parity_shards").to_number<std::uint32_t>();
    p.expires_at = o.at("expires_at_ms").to_number<std::int64_t>();
    p.providers = services_from(o.at("providers"), file);
    if (o.contains("accounts"))
      for (const auto& a : o.at("accounts").as_array()) p.accounts.push_back(hash_from(a));
    if (o.contains("prices"))
      for (const auto& a : o.at("prices").as_array()) p.prices.push_back(a.to_number<std::uint64_t>());
    return p;
  } catch (const std::exception& ex) {
    throw Failure{file.string() + ": not an unfinished-put record (" + ex.what() + "); remove it and put again"};
  }
}

void StorageDir::save_pending(const PendingPut& p) const {
  json::object o{{"file", p.file},
                 {"name", p.name},
                 {"segment_size", p.segment_size},
                 {"data_shards", p.data_shards},
                 {"parity_shards", p.parity_shards},
                 {"expires_at_ms", p.expires_at},
                 {"providers", services_json(p.providers)}};
  json::array accounts, prices;
  for (const auto& a : p.accounts) accounts.emplace_back(a.hex());
  for (auto price : p.prices) prices.emplace_back(price);
  o["accounts"] = std::move(accounts);
  o["prices"] = std::move(prices);
  write_atomically(pending_path(p.file).string() + ".json", json::serialize(o));
}

void StorageDir::drop_pending(const std::string& source) const {
  fs::remove(pending_path(source).string() + ".json");
  fs::remove(journal_path(source));
}

}  // namespace bc::cli

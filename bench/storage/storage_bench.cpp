// Storage pipeline throughput beside this machine's hardware limit, in one
// run (docs/storage.md "Measured figures").
//
// Hardware limit: the slowest of AES-256-GCM, SHA-256, ISA-L 4+2 encoding and
// disk write + fsync, in plaintext bytes per second, with the erasure
// overhead applied (a put hashes and writes 1.5 bytes per plaintext byte; a
// get hashes 1.0 and decrypts 1.0). A get is held to the limit of the steps
// it runs (AES, SHA, TCP: higher, so stricter); its ratio to the put limit,
// which is the single limit read literally, is printed beside it
// (docs/storage.md "Measured figures"). Pipeline: put and get of one file over
// six in-process providers (one libuv loop, LevelDB indexes, fsync per shard)
// in a temporary directory. Each measurement is repeated --runs times and the
// median printed.
//
// With --bootstrap IP:PORT (any node of a devnet started with
// `blockcloud-devnet up --storage-providers 6`), put and get run through the
// network instead: a client node (storage::StorageNode) joins, reads the
// storage directory and uses six listed providers over SAL flows (TLS over
// loopback TCP, each provider a daemon with its own store); loopback TCP joins
// the limit, and the time to the first plaintext byte of a get is printed.
//
//   bc-bench-storage [--size-mib 256] [--runs 3] [--dir /tmp] [--bootstrap IP:PORT]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "apps/storage/cipher.hpp"
#include "apps/storage/erasure.hpp"
#include "apps/storage/net/storage_node.hpp"
#include "apps/storage/pipeline.hpp"
#include "sal/host/host.hpp"
#include "layers/crypto.hpp"

using namespace bc;
using namespace bc::storage;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMiB = 1u << 20;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Bytes filled(std::size_t n, std::uint64_t seed) {
  Bytes b(n);
  Rng rng(seed);
  rng.fill(b);
  return b;
}

double aes_gcm_rate() {
  Key256 key{};
  AeadKey aead(key);
  Bytes buf = filled(4 * kMiB + kTagBytes, 1);
  std::array<std::uint8_t, 12> nonce{};
  const int reps = 64;
  auto t0 = Clock::now();
  for (int i = 0; i < reps; ++i) {
    nonce[11] = static_cast<std::uint8_t>(i);
    aead.seal(nonce, {}, ByteView(buf.data(), 4 * kMiB), buf);
  }
  return reps * 4.0 * kMiB / seconds_since(t0);
}

double sha256_rate() {
  Bytes buf = filled(kMiB, 2);
  Sha256 h;
  const int reps = 256;
  auto t0 = Clock::now();
  for (int i = 0; i < reps; ++i) h.update(buf);
  Hash256 d = h.finish();
  const double rate = reps * 1.0 * kMiB / seconds_since(t0);
  if (d.is_zero()) std::printf("(impossible digest)\n");
  return rate;
}

// Data bytes per second through a 4+2 encode of 1 MiB shards.
double isal_encode_rate() {
  ErasureCoder coder(4, 2);
  std::vector<Bytes> shards;
  for (int j = 0; j < 6; ++j) shards.push_back(filled(kMiB, 10 + j));
  std::vector<const std::uint8_t*> data{shards[0].data(), shards[1].data(), shards[2].data(), shards[3].data()};
  std::vector<std::uint8_t*> parity{shards[4].data(), shards[5].data()};
  const int reps = 64;
  auto t0 = Clock::now();
  for (int i = 0; i < reps; ++i) coder.encode(data, parity, kMiB);
  return reps * 4.0 * kMiB / seconds_since(t0);
}

// Files of one shard's size (1 MiB: a 4 MiB segment at k = 4), each written
// and fsynced one after another.
double disk_rate(const std::filesystem::path& dir) {
  Bytes buf = filled(kMiB, 3);
  const int files = 96;
  auto t0 = Clock::now();
  for (int i = 0; i < files; ++i) {
    const std::string path = (dir / ("disk-" + std::to_string(i))).string();
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ::write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size()) || ::fsync(fd) != 0) {
      std::perror("disk benchmark");
      std::exit(1);
    }
    ::close(fd);
  }
  const double rate = files * 1.0 * kMiB / seconds_since(t0);
  for (int i = 0; i < files; ++i) std::filesystem::remove(dir / ("disk-" + std::to_string(i)));
  return rate;
}

// The 1-minute load average: the machine may be shared, and every figure
// of a run depends on it.
std::string load_average() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  double load = -1;
  if (f) {
    if (std::fscanf(f, "%lf", &load) != 1) load = -1;
    std::fclose(f);
  }
  return load < 0 ? "?" : std::to_string(load).substr(0, 5);
}

struct PipelineRates {
  double put, get;
  double first_byte_ms = 0;
};

// One TCP stream over loopback, 256 MiB in 1 MiB writes, bytes per second.
double loopback_tcp_rate() {
  const int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (ls < 0 || ::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(ls, 1) != 0 ||
      ::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    std::perror("loopback socket");
    std::exit(1);
  }
  constexpr std::size_t kTotal = 256 * kMiB;
  std::thread writer([a] {
    const int c = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(c, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) std::exit(1);
    const Bytes buf = filled(kMiB, 9);
    for (std::size_t sent = 0; sent < kTotal;) {
      const ssize_t n = ::write(c, buf.data(), std::min(buf.size(), kTotal - sent));
      if (n <= 0) std::exit(1);
      sent += static_cast<std::size_t>(n);
    }
    ::close(c);
  });
  const int s = ::accept(ls, nullptr, nullptr);
  Bytes buf(kMiB);
  const auto t0 = Clock::now();
  std::size_t got = 0;
  for (ssize_t n; (n = ::read(s, buf.data(), buf.size())) > 0;) got += static_cast<std::size_t>(n);
  const double rate = static_cast<double>(got) / seconds_since(t0);
  writer.join();
  ::close(s);
  ::close(ls);
  return rate;
}

// Put then get one file of `size` bytes over `transport`.
PipelineRates measure(ShardTransport& transport, const PutOptions& options, TimeMs now, std::size_t size) {
  Key256 master{};
  master[0] = 1;
  StorageClient client(master, transport);
  Bytes chunk = filled(kMiB, 4);
  std::size_t produced = 0;
  Source source = [&](std::span<std::uint8_t> out) -> Result<std::size_t> {
    const std::size_t n = std::min({out.size(), size - produced, chunk.size()});
    std::memcpy(out.data(), chunk.data(), n);
    chunk[produced % chunk.size()] ^= 1;  // no two segments alike
    produced += n;
    return n;
  };
  auto t0 = Clock::now();
  auto file = client.put(source, options, now);
  const double put = static_cast<double>(size) / seconds_since(t0);
  if (!file.ok()) {
    std::fprintf(stderr, "put: %s\n", file.status().text().c_str());
    std::exit(1);
  }
  std::size_t got = 0;
  double first_byte_ms = 0;
  t0 = Clock::now();
  Status s = client.get(*file, [&](ByteView d) {
    if (got == 0) first_byte_ms = seconds_since(t0) * 1000;
    got += d.size();
    return Status::success();
  });
  const double get = static_cast<double>(size) / seconds_since(t0);
  if (!s.ok() || got != size) {
    std::fprintf(stderr, "get: %s\n", s.text().c_str());
    std::exit(1);
  }
  (void)client.remove(*file);
  return {put, get, first_byte_ms};
}

PipelineRates pipeline_rates(const std::filesystem::path& dir, std::size_t size) {
  std::vector<std::filesystem::path> dirs;
  for (int i = 0; i < 6; ++i) dirs.push_back(dir / ("provider-" + std::to_string(i)));
  auto net = InProcessNetwork::open(dirs, 4 * size);
  if (!net.ok()) {
    std::fprintf(stderr, "providers: %s\n", net.status().text().c_str());
    std::exit(1);
  }
  Key256 master{};
  master[0] = 1;
  PutOptions options;
  options.expires_at = (*net)->now() + 1'000'000;
  options.placement = {0, 1, 2, 3, 4, 5};
  const PipelineRates r = measure(**net, options, (*net)->now(), size);
  net.value().reset();
  for (const auto& d : dirs) std::filesystem::remove_all(d);
  return r;
}

// The same over a devnet's listed providers, reached through `bootstrap`.
PipelineRates network_rates(const Endpoint& bootstrap, std::size_t size) {
  boost::asio::io_context io;
  StorageNode node(io, {bootstrap});
  auto fail = [](const std::string& what, const Status& s) {
    std::fprintf(stderr, "%s: %s\n", what.c_str(), s.text().c_str());
    std::exit(1);
  };
  if (Status s = node.join(10'000); !s.ok()) fail("join", s);
  auto ads = node.providers(10'000);
  if (!ads.ok()) fail("storage directory", ads.status());
  if (ads->size() < 6) fail("storage directory", Status(make_error_code(Errc::kUnavailable), "fewer than 6 providers listed"));
  std::vector<sal::ServiceId> chosen;
  for (std::size_t i = 0; i < 6; ++i) chosen.push_back((*ads)[i].service);
  auto transport = node.transport(chosen);
  PutOptions options;
  options.expires_at = sal::Host::now_ms() + 3'600'000;
  options.placement = {0, 1, 2, 3, 4, 5};
  return measure(*transport, options, sal::Host::now_ms(), size);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t size_mib = 256;
  int runs = 3;
  std::filesystem::path base = std::filesystem::temp_directory_path();
  std::optional<Endpoint> bootstrap;
  const char* usage = "usage: bc-bench-storage [--size-mib 256] [--runs 3] [--dir /tmp] [--bootstrap IP:PORT]\n";
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") return std::printf("%s", usage), 0;
    if (i + 1 == argc) return std::fprintf(stderr, "%s: needs a value\n%s", flag.c_str(), usage), 2;
    if (flag == "--size-mib") size_mib = std::stoul(argv[i + 1]);
    else if (flag == "--runs") runs = std::stoi(argv[i + 1]);
    else if (flag == "--dir") base = argv[i + 1];
    else if (flag == "--bootstrap" && !(bootstrap = Endpoint::parse(argv[i + 1])))
      return std::fprintf(stderr, "--bootstrap: expected IP:PORT\n"), 2;
    else if (flag != "--bootstrap") return std::fprintf(stderr, "unknown option %s\n%s", flag.c_str(), usage), 2;
  }
  const std::filesystem::path dir = base / ("bc-bench-storage-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::vector<double> aes, sha, ec, disk, tcp, put, get, put_limit, get_limit, first;
  for (int r = 0; r < runs; ++r) {
    aes.push_back(aes_gcm_rate());
    sha.push_back(sha256_rate());
    ec.push_back(isal_encode_rate());
    disk.push_back(disk_rate(dir));
    // Over the network a put sends 1.5 bytes per plaintext byte, a get receives 1.0.
    tcp.push_back(bootstrap ? loopback_tcp_rate() : 1e18);
    put_limit.push_back(std::min({aes.back(), sha.back() / 1.5, ec.back(), disk.back() / 1.5, tcp.back() / 1.5}));
    get_limit.push_back(std::min({aes.back(), sha.back(), tcp.back()}));
    const PipelineRates p = bootstrap ? network_rates(*bootstrap, size_mib * kMiB) : pipeline_rates(dir, size_mib * kMiB);
    first.push_back(p.first_byte_ms);
    put.push_back(p.put);
    get.push_back(p.get);
    std::printf("run %d: aes-gcm %.0f  sha256 %.0f  isa-l 4+2 %.0f  disk+fsync %.0f  | put %.0f (%.2fx)  get %.0f MB/s "
                "(%.2fx)  first byte %.1f ms  | load average %s\n",
                r + 1, aes.back() / 1e6, sha.back() / 1e6, ec.back() / 1e6, disk.back() / 1e6, put.back() / 1e6,
                put.back() / put_limit.back(), get.back() / 1e6, get.back() / get_limit.back(), p.first_byte_ms,
                load_average().c_str());
  }
  std::filesystem::remove_all(dir);
  std::printf("\nmedians of %d runs, %zu MiB file, 4+2, 4 MiB segments, 6 %s providers:\n", runs, size_mib,
              bootstrap ? "devnet (over SAL flows)" : "in-process");
  std::printf("  AES-256-GCM          %8.0f MB/s\n", median(aes) / 1e6);
  std::printf("  SHA-256              %8.0f MB/s\n", median(sha) / 1e6);
  std::printf("  ISA-L encode 4+2     %8.0f MB/s (data bytes)\n", median(ec) / 1e6);
  std::printf("  disk write + fsync   %8.0f MB/s (1 MiB files)\n", median(disk) / 1e6);
  if (bootstrap) std::printf("  loopback TCP         %8.0f MB/s (one stream)\n", median(tcp) / 1e6);
  std::printf("  put limit            %8.0f MB/s  (min of AES, SHA/1.5, ISA-L, disk/1.5%s)\n", median(put_limit) / 1e6,
              bootstrap ? ", TCP/1.5" : "");
  std::printf("  get limit            %8.0f MB/s  (min of AES, SHA%s)\n", median(get_limit) / 1e6, bootstrap ? ", TCP" : "");
  std::printf("  put                  %8.0f MB/s  ratio %.2f\n", median(put) / 1e6, median(put) / median(put_limit));
  std::printf("  get                  %8.0f MB/s  ratio %.2f  (%.2f to the put limit, the issue's one limit read literally)\n",
              median(get) / 1e6, median(get) / median(get_limit), median(get) / median(put_limit));
  std::printf("  get first byte       %8.1f ms\n", median(first));
  return 0;
}

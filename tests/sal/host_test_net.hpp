// Helpers for sal::Host tests: hosts on loopback addresses in one process,
// a resolver that answers with each provider's current address, proofs a
// test ProofCheck accepts or rejects, an echo server and a hashed transfer.
#pragma once
#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "layers/crypto.hpp"
#include "layers/metrics.hpp"
#include "sal/host/host.hpp"

namespace bc::sal::hosttest {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

inline ServiceId service_named(std::string_view name) { return sha256(as_bytes(name)); }

// The proof a test provider presents; test_check() accepts exactly this.
inline Bytes good_proof(const ServiceId& s) {
  Bytes b = {'p', 'r', 'o', 'o', 'f'};
  b.insert(b.end(), s.bytes.begin(), s.bytes.end());
  return b;
}
inline bool test_check(const ServiceId& s, const XOnlyPubKey&, ByteView proof, TimeMs) {
  const Bytes want = good_proof(s);
  return proof.size() == want.size() && std::equal(proof.begin(), proof.end(), want.begin());
}

inline Endpoint ep(const char* text) { return *Endpoint::parse(text); }

inline HostConfig test_config() {
  HostConfig c;
  c.picker.connect_timeout_ms = 300;
  c.redial_backoff_min_ms = 10;
  c.redial_backoff_max_ms = 200;
  return c;
}

// Who provides what: answers with each provider's *current* address, as the
// DSHT does once a moved provider has republished.
struct Directory {
  struct Entry {
    const Host* host = nullptr;         // a live provider, or
    std::optional<Candidate> fixed;     // a fixed (possibly dead) candidate
    int level = kClusterUnknown;
  };
  std::map<ServiceId, std::vector<Entry>> services;
  // A cache or nearest copy that missed a move: plain resolves answer this
  // while it is set; fresh resolves always see the current addresses.
  std::map<ServiceId, std::vector<Candidate>> stale;
  int resolves = 0;
  int fresh_resolves = 0;

  void add(const ServiceId& s, const Host& h, int level = kClusterUnknown) {
    services[s].push_back({&h, std::nullopt, level});
  }
  void add_fixed(const ServiceId& s, const Candidate& c) { services[s].push_back({nullptr, c, c.cluster_level}); }

  std::vector<Candidate> lookup(const ServiceId& s) const {
    std::vector<Candidate> out;
    auto it = services.find(s);
    if (it == services.end()) return out;
    for (const auto& e : it->second) {
      if (e.fixed) {
        out.push_back(*e.fixed);
        continue;
      }
      Candidate c;
      c.provider = e.host->node_id();
      c.addresses = {e.host->local_endpoint()};
      c.cluster_level = e.level;
      out.push_back(c);
    }
    return out;
  }
};

// Hooks that resolve through `dir` (its stale answer first, the fresh one on
// a fresh resolve) and prove services honestly or with a forged proof.
inline HostHooks directory_hooks(asio::io_context& io, Directory& dir, bool honest = true) {
  HostHooks hooks;
  hooks.resolve = [&dir, &io](const ServiceId& s, TimeMs, ResolveDone done) {
    ++dir.resolves;
    auto st = dir.stale.find(s);
    auto cands = st != dir.stale.end() ? st->second : dir.lookup(s);
    asio::post(io, [done = std::move(done), cands = std::move(cands)]() mutable { done(std::move(cands)); });
  };
  hooks.resolve_fresh = [&dir, &io](const ServiceId& s, TimeMs, ResolveDone done) {
    ++dir.fresh_resolves;
    auto cands = dir.lookup(s);
    asio::post(io, [done = std::move(done), cands = std::move(cands)]() mutable { done(std::move(cands)); });
  };
  hooks.proof_for = [honest](const ServiceId& s) -> std::optional<Bytes> {
    if (honest) return good_proof(s);
    return Bytes{'f', 'o', 'r', 'g', 'e', 'd'};
  };
  hooks.check_proof = test_check;
  return hooks;
}

struct TestNode {
  TestNode(asio::io_context& io, const char* listen, Directory& dir, bool honest = true,
           HostConfig cfg = test_config(), FlowFilter accept_flow = nullptr)
      : key(KeyPair::generate()) {
    HostHooks hooks = directory_hooks(io, dir, honest);
    hooks.accept_flow = std::move(accept_flow);
    host = std::make_unique<Host>(io, key, ep(listen), cfg, hooks, reg);
    host->start();
  }
  KeyPair key;
  metrics::Registry reg;
  std::unique_ptr<Host> host;
};

struct Loop {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(io);

  // Runs the loop until pred() holds; false after timeout_ms.
  bool run_until(const std::function<bool()>& pred, int timeout_ms) {
    const auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!pred()) {
      if (Clock::now() > end) return false;
      io.run_one_for(std::chrono::milliseconds(20));
    }
    return true;
  }
  void run_for(int ms) {
    const auto end = Clock::now() + std::chrono::milliseconds(ms);
    while (Clock::now() < end) io.run_one_for(std::chrono::milliseconds(5));
  }
};

// Echoes every byte back; shuts down its sending side after the peer's EOF.
struct Echo : std::enable_shared_from_this<Echo> {
  explicit Echo(std::unique_ptr<ByteStream> s) : stream(std::move(s)) {}
  std::unique_ptr<ByteStream> stream;
  std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(16 * 1024);
  void start() {
    stream->async_read_some(buf, [self = shared_from_this()](const error_code& ec, std::size_t n) {
      if (ec) {
        if (ec == asio::error::eof) self->stream->shutdown_send();
        return;
      }
      self->stream->async_write(ByteView(self->buf.data(), n), [self](const error_code& e, std::size_t) {
        if (!e) self->start();
      });
    });
  }
};

// Deterministic bytes, chunk by chunk: a 1 MiB random table, each pass over
// it shifted by the pass number, so no two MiB of a transfer are equal
// (a byte lost or repeated changes the SHA-256) and filling costs little.
inline void fill_pattern(std::uint64_t seed, std::uint64_t offset, std::span<std::uint8_t> out) {
  static constexpr std::size_t kTable = 1 << 20;
  static const std::vector<std::uint8_t> table = [] {
    std::vector<std::uint8_t> t(kTable);
    Rng(7).fill(t);
    return t;
  }();
  std::size_t i = 0;
  while (i < out.size()) {
    const std::uint64_t o = offset + i;
    const std::size_t at = o % kTable;
    const std::size_t run = std::min(out.size() - i, kTable - at);
    const auto shift = static_cast<std::uint8_t>(o / kTable + seed);
    for (std::size_t j = 0; j < run; ++j) out[i + j] = static_cast<std::uint8_t>(table[at + j] + shift);
    i += run;
  }
}

// Sends `total` pattern bytes, then FIN.
struct Sender : std::enable_shared_from_this<Sender> {
  Sender(ByteStream& s, std::uint64_t total, std::uint64_t seed) : stream(s), total(total), seed(seed) {}
  ByteStream& stream;
  std::uint64_t total, seed, sent = 0;
  std::vector<std::uint8_t> chunk = std::vector<std::uint8_t>(64 * 1024);
  Sha256 hash;
  std::optional<Hash256> digest;
  error_code error;
  bool done = false;
  void start() { next(); }
  void next() {
    if (sent == total) {
      stream.shutdown_send();
      digest = hash.finish();
      done = true;
      return;
    }
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), total - sent));
    fill_pattern(seed, sent, std::span(chunk.data(), n));
    hash.update(ByteView(chunk.data(), n));
    stream.async_write(ByteView(chunk.data(), n), [self = shared_from_this()](const error_code& ec, std::size_t m) {
      if (ec) {
        self->error = ec;
        self->done = true;
        return;
      }
      self->sent += m;
      self->next();
    });
  }
};

// Reads to EOF, hashing; records the longest gap between reads.
struct Receiver : std::enable_shared_from_this<Receiver> {
  explicit Receiver(std::unique_ptr<ByteStream> s) : stream(std::move(s)) {}
  std::unique_ptr<ByteStream> stream;
  std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(64 * 1024);
  Sha256 hash;
  std::uint64_t received = 0;
  std::optional<Hash256> digest;
  error_code error;
  bool done = false;
  Clock::time_point last = Clock::now();
  Clock::duration longest_gap{};
  std::function<void(std::uint64_t)> on_progress;
  void start() {
    last = Clock::now();
    read();
  }
  void read() {
    stream->async_read_some(buf, [self = shared_from_this()](const error_code& ec, std::size_t n) {
      if (ec) {
        if (ec == asio::error::eof) self->digest = self->hash.finish();
        else self->error = ec;
        self->done = true;
        return;
      }
      const auto t = Clock::now();
      self->longest_gap = std::max(self->longest_gap, t - self->last);
      self->last = t;
      self->hash.update(ByteView(self->buf.data(), n));
      self->received += n;
      if (self->on_progress) self->on_progress(self->received);
      self->read();
    });
  }
  double longest_gap_ms() const { return std::chrono::duration<double, std::milli>(longest_gap).count(); }
};

// Result slot for async_connect.
struct ConnectResult {
  bool done = false;
  error_code ec;
  std::unique_ptr<ByteStream> stream;
  ConnectHandler handler() {
    return [this](const error_code& e, std::unique_ptr<ByteStream> s) {
      done = true;
      ec = e;
      stream = std::move(s);
    };
  }
};

// Echo round trip of `msg` over a fresh flow; returns the connect time (ms).
inline double connect_and_echo(Loop& L, ServiceConnector& client, const ServiceId& s, const std::string& msg) {
  ConnectResult cr;
  const auto t0 = Clock::now();
  client.async_connect(s, cr.handler());
  REQUIRE(L.run_until([&] { return cr.done; }, 5000));
  const double connect_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  REQUIRE_MESSAGE(!cr.ec, cr.ec.message());
  REQUIRE(cr.stream);
  bool wrote = false;
  cr.stream->async_write(as_bytes(msg), [&](const error_code& ec, std::size_t n) {
    CHECK(!ec);
    CHECK(n == msg.size());
    wrote = true;
    cr.stream->shutdown_send();
  });
  std::string got;
  std::vector<std::uint8_t> buf(4096);
  bool eof = false;
  std::function<void()> read = [&] {
    cr.stream->async_read_some(buf, [&](const error_code& ec, std::size_t n) {
      if (ec) {
        CHECK(ec == asio::error::eof);
        eof = true;
        return;
      }
      got.append(reinterpret_cast<const char*>(buf.data()), n);
      read();
    });
  };
  read();
  REQUIRE(L.run_until([&] { return wrote && eof; }, 5000));
  CHECK(got == msg);
  cr.stream->close();
  return connect_ms;
}


}  // namespace bc::sal::hosttest

// Relaying of flow-port connections (docs/sal-host.md, "Relay").
//
// A client whose source address must not show (an auditor's probe,
// docs/proof-of-service.md "Probes look like clients") connects to another
// node's flow port, sends a fixed-size RelayRequest naming the provider
// endpoint and the service it dials for, reads a one-byte RelayVerdict, and
// then runs its TLS handshake with the provider over the same socket. The
// relay node dials the provider from its own address and copies bytes both
// ways: TLS stays end to end, so the relay sees only ciphertext and can drop
// or delay the connection, nothing more.
//
// The relay is no open proxy: it dials only an endpoint its own resolver
// lists for the named service, never its own address, with a cap on pairs
// and deadlines on every phase.
//
// Single-threaded: everything runs on the io_context's thread.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "layers/bytes.hpp"
#include "layers/ids.hpp"
#include "layers/metrics.hpp"
#include "layers/runtime.hpp"
#include "sal/host/stream.hpp"
#include "sal/table/endpoint_picker.hpp"

namespace bc::sal {

// The request's first bytes. 0xBC is no TLS content type (a TLS connection
// starts with a handshake record, 0x16), so the flow port tells the two
// apart by the first byte alone.
inline constexpr std::array<std::uint8_t, 4> kRelayMagic = {0xBC, 'R', 'L', 'Y'};
inline constexpr std::uint8_t kRelayVersion = 1;
// magic(4) version(1) reserved(1, zero) target ip(16) target port(2, big-endian) service(32)
inline constexpr std::size_t kRelayRequestSize = 4 + 1 + 1 + 16 + 2 + 32;

struct RelayRequest {
  Endpoint target;    // the provider's flow endpoint
  ServiceId service;  // the service the client dials for (the relay's check)
};

enum class RelayVerdict : std::uint8_t {
  kOk = 0,
  kMalformed = 1,    // not a request of this version
  kNotProvider = 2,  // the target is no endpoint of the service per the relay's resolver
  kSelf = 3,         // the target is the relay itself
  kBusy = 4,         // max_relay_pairs reached
  kUnreachable = 5,  // the relay could not connect to the target
};
std::string_view to_string(RelayVerdict v);

std::array<std::uint8_t, kRelayRequestSize> encode_relay_request(const RelayRequest& r);
// Exactly kRelayRequestSize bytes; nullopt for anything else: wrong size,
// magic or version, a non-zero reserved byte, port 0, an unspecified target.
std::optional<RelayRequest> decode_relay_request(ByteView bytes);

struct RelayConfig {
  std::size_t max_pairs = 64;         // relayed connections, any phase; 0: the node relays nothing
  // From one source (Admission::source_key): a few addresses cannot take
  // every pair and so shut the relay for everyone else.
  std::size_t max_pairs_per_source = 8;
  TimeMs request_timeout_ms = 2'000;  // request read, resolve and dial of the target
  TimeMs idle_timeout_ms = 60'000;    // a pair that moves no byte this long is closed
};

// Whether `target` is a provider endpoint of `service`: asks the node's
// resolver (the host's HostHooks::resolve); `done` runs once.
using RelayCheck = std::function<void(const ServiceId& service, std::function<void(std::vector<Candidate>)> done)>;

class Relay : public std::enable_shared_from_this<Relay> {
 public:
  Relay(boost::asio::io_context& io, RelayConfig config, RelayCheck resolve, metrics::Registry& registry);

  // The node's flow address: the target it refuses, and the IP it dials from.
  void set_local(const Endpoint& local) { local_ = local; }

  // An accepted connection whose first byte is kRelayMagic[0] (nothing read
  // yet). `closed` runs once when the connection ends, whatever the outcome.
  void take(boost::asio::ip::tcp::socket client, const Endpoint& remote, std::function<void()> closed);

  // Closes every relayed connection. Idempotent.
  void stop();

  std::size_t pairs() const { return pairs_.size(); }

 private:
  struct Pair;
  struct Metrics {
    explicit Metrics(metrics::Registry& r);
    metrics::Gauge& pairs;
    metrics::Counter& accepted;
    metrics::Counter& refused_malformed;
    metrics::Counter& refused_timeout;
    metrics::Counter& refused_not_provider;
    metrics::Counter& refused_self;
    metrics::Counter& refused_busy;
    metrics::Counter& refused_unreachable;
    metrics::Counter& bytes_to_target;
    metrics::Counter& bytes_to_client;
    metrics::Counter& idle_closed;
  };

  void on_request(const std::shared_ptr<Pair>& p);
  void on_checked(const std::shared_ptr<Pair>& p, const std::vector<Candidate>& providers);
  void on_target(const std::shared_ptr<Pair>& p);
  void refuse(const std::shared_ptr<Pair>& p, RelayVerdict why);
  void start_splice(const std::shared_ptr<Pair>& p);
  void watch_idle(const std::shared_ptr<Pair>& p);
  void count_bytes(Pair& p);
  void end(const std::shared_ptr<Pair>& p);

  boost::asio::io_context& io_;
  RelayConfig cfg_;
  RelayCheck resolve_;
  Metrics m_;
  Endpoint local_;
  std::unordered_set<std::shared_ptr<Pair>> pairs_;
  std::unordered_map<std::string, std::size_t> per_source_;  // pairs open, by source
};

}  // namespace bc::sal

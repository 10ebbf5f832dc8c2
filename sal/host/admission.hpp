// Admission of incoming connections, shared by the flow port (sal::Host) and
// the SOCKS gateway (sal/gateways/gateways.hpp). Sans-I/O: the driver asks
// admit() for each accepted TCP connection, closes the connections it is
// told to evict, and reports when a connection finished its handshake or
// closed.
//
// The policy (docs/sal-host.md, "Admission"):
//   - a source is an IPv4 address or an IPv6 /64 (one host's usual share);
//   - open connections are capped per source and in total;
//   - connections still in their handshake ("pending") are capped per source
//     and in total; when a cap is reached a newcomer is not refused: the
//     oldest pending connection of its own source (per-source cap) or of the
//     source holding the most pending slots (total cap) is evicted. One
//     source can so hold at most its share of the pending slots, and idle
//     connections cannot keep honest handshakes (which finish in
//     milliseconds) out;
//   - a newcomer is refused only when the slots it needs are held by
//     connections past their handshake, or by the token buckets (new
//     connections per second per source, and in total; 0 disables one).
#pragma once
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "layers/runtime.hpp"

namespace bc::sal {

struct AdmissionLimits {
  std::size_t max_connections = 1024;        // open, any phase (>= 1)
  std::size_t max_per_source = 64;           // open from one source (>= 1)
  std::size_t max_pending = 128;             // in their handshake (>= 1)
  std::size_t max_pending_per_source = 16;   // in their handshake, one source (>= 1)
  double rate_per_source = 0;                // new connections per second per source; 0 = no limit
  double burst_per_source = 0;
  double rate = 0;                           // new connections per second in total; 0 = no limit
  double burst = 0;
};

class Admission {
 public:
  using Ticket = std::uint64_t;  // 0 is never a ticket

  enum class Refusal : std::uint8_t { kNone, kSourceFull, kFull, kSourceRate, kRate };
  static std::string_view label(Refusal r);  // "source_full", "full", "source_rate", "rate"

  struct Decision {
    Ticket ticket = 0;                    // 0: refused, see `refused`
    Refusal refused = Refusal::kNone;
    std::vector<Ticket> evict;            // pending connections the driver must close now
  };

  explicit Admission(AdmissionLimits limits);

  // A new connection from `source` (see source_key()). On admission it is
  // pending until established(). The evicted tickets are already forgotten:
  // the driver closes their connections and need not call close() for them
  // (doing so is harmless).
  Decision admit(const std::string& source, TimeMs now);
  // The connection finished its handshake: it is no longer evictable.
  void established(Ticket t);
  // The connection closed. Idempotent; unknown tickets are ignored.
  void close(Ticket t);

  std::size_t open() const { return tickets_.size(); }
  std::size_t pending() const { return pending_; }
  std::size_t open_from(const std::string& source) const;
  std::size_t pending_from(const std::string& source) const;
  std::size_t sources() const { return sources_.size(); }
  const AdmissionLimits& limits() const { return limits_; }

  // The source an address counts as: "a.b.c.d", or the IPv6 /64 "x:x:x:x::/64".
  static std::string source_key(const Endpoint& remote);

 private:
  struct Source {
    std::size_t open = 0;
    std::set<Ticket> pending;  // oldest first
    double tokens = 0;
    TimeMs at = 0;
    bool fresh = true;  // bucket not yet filled
  };
  struct Entry {
    std::string source;
    bool pending = true;
  };

  static bool take(double& tokens, TimeMs& at, bool& fresh, double rate, double burst, TimeMs now,
                   bool commit);
  bool source_over(const Source& s) const;
  bool total_over() const;
  Ticket evict_oldest(Source& s);
  Ticket evict_heaviest();
  void forget(Ticket t);
  void sweep(TimeMs now);

  AdmissionLimits limits_;
  std::unordered_map<std::string, Source> sources_;
  std::unordered_map<Ticket, Entry> tickets_;
  std::size_t pending_ = 0;
  Ticket next_ = 0;
  double tokens_ = 0;
  TimeMs at_ = 0;
  bool fresh_ = true;
  const Source* keep_ = nullptr;  // see admit()
};

}  // namespace bc::sal

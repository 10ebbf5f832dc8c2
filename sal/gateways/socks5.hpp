// Server side of a SOCKS5 negotiation (RFC 1928), sans-I/O.
//
// The subset the Blockcloud gateway speaks (docs/sal-gateways.md):
//   - method 0x00 (no authentication) by default; with credentials
//     configured, method 0x02 (username/password, RFC 1929) and nothing
//     else. A client that does not offer the one method gets 05 FF and is
//     closed; wrong credentials get 01 01 and are closed;
//   - command CONNECT only (others: reply 0x07);
//   - address type DOMAINNAME naming a service, "<service-id>.bc"; IPv4 and
//     IPv6 targets get 0x08 (this gateway reaches services, not hosts); a
//     name that is not a valid service ID gets 0x04.
// The negotiator owns no socket: the driver feeds it the client's bytes,
// sends what it queues in output(), and reports the outcome of the connect.
// Every message is bounded (greeting <= 257 bytes, authentication <= 513,
// request <= 262), input
// may arrive one byte at a time, and any malformed input ends in state
// kFailed with a reason, a message and, where the protocol has one, a reply.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "layers/bytes.hpp"
#include "sal/host/stream.hpp"

namespace bc::sal::socks5 {

inline constexpr std::uint8_t kVersion = 0x05;
inline constexpr std::uint8_t kMethodNoAuth = 0x00;
inline constexpr std::uint8_t kMethodUserPass = 0x02;
inline constexpr std::uint8_t kUserPassVersion = 0x01;  // RFC 1929 sub-negotiation
inline constexpr std::uint8_t kMethodNoneAcceptable = 0xFF;
inline constexpr std::uint8_t kCmdConnect = 0x01;
inline constexpr std::uint8_t kAtypIpv4 = 0x01;
inline constexpr std::uint8_t kAtypDomain = 0x03;
inline constexpr std::uint8_t kAtypIpv6 = 0x04;
inline constexpr std::size_t kMaxGreetingBytes = 2 + 255;       // VER NMETHODS METHODS[255]
inline constexpr std::size_t kMaxRequestBytes = 4 + 1 + 255 + 2;  // header, len, name, port
inline constexpr std::size_t kMaxAuthBytes = 2 + 255 + 1 + 255;    // VER ULEN UNAME PLEN PASSWD

// The username and password a gateway requires (RFC 1929). Holds only
// digests of them, so check() takes the same time whatever the client sends
// and wherever it differs.
class UserPass {
 public:
  // Both must be 1 to 255 bytes (RFC 1929); throws std::invalid_argument
  // saying which is not.
  UserPass(std::string_view username, std::string_view password);
  bool check(ByteView username, ByteView password) const;

 private:
  Hash256 user_{};
  Hash256 pass_{};
};

// RFC 1928 section 6 reply codes.
enum class Reply : std::uint8_t {
  kSucceeded = 0x00,
  kGeneralFailure = 0x01,
  kNotAllowed = 0x02,
  kNetworkUnreachable = 0x03,
  kHostUnreachable = 0x04,
  kConnectionRefused = 0x05,
  kTtlExpired = 0x06,
  kCommandNotSupported = 0x07,
  kAddressTypeNotSupported = 0x08,
};

// Why a negotiation failed; also the `reason` label of
// bc_sal_socks_rejected_total (see reject_label()).
enum class Reject : std::uint8_t {
  kNone,
  kBadVersion,          // greeting VER != 5 (SOCKS4, HTTP, TLS, noise): closed without reply
  kBadGreeting,         // NMETHODS == 0: closed without reply
  kNoAcceptableMethod,  // the gateway's method (0x00, or 0x02 with credentials) not offered: 05 FF
  kBadAuthVersion,      // RFC 1929 sub-negotiation VER != 1: 01 01
  kBadCredentials,      // wrong username or password: 01 01
  kBadRequestVersion,   // request VER != 5: reply 0x01
  kBadReserved,         // RSV != 0: reply 0x01
  kUnsupportedCommand,  // BIND / UDP ASSOCIATE / unknown: reply 0x07
  kUnknownAddressType,  // ATYP not 1, 3, 4: reply 0x08
  kIpTarget,            // ATYP IPv4/IPv6: reply 0x08
  kNotServiceName,      // empty name, or a name not ending in ".bc": reply 0x04
  kBadServiceId,        // "<x>.bc" where x is not a valid service ID: reply 0x04
};
std::string_view reject_label(Reject r);

class ServerNegotiator {
 public:
  enum class State : std::uint8_t {
    kGreeting,     // waiting for (the rest of) the greeting
    kAuth,         // method 0x02 chosen; waiting for (the rest of) username/password
    kRequest,      // method chosen; waiting for (the rest of) the request
    kConnecting,   // target() is set; driver must call connect_succeeded/failed
    kEstablished,  // success reply queued; every later byte is application data
    kFailed,       // send output(), then close
  };

  ServerNegotiator() = default;
  // With `auth` (which must outlive the negotiator) method 0x02 is required.
  explicit ServerNegotiator(const UserPass* auth) : auth_(auth) {}

  // Consumes bytes of the client's stream and returns how many it took. It
  // stops taking bytes once the request is complete (kConnecting) or the
  // negotiation failed: the rest is early application data (or garbage).
  std::size_t feed(ByteView in);

  // The outcome of ServiceConnector::async_connect (only in kConnecting).
  void connect_succeeded();
  void connect_failed(Reply code);

  State state() const { return state_; }
  bool failed() const { return state_ == State::kFailed; }
  // Bytes to send to the client, in order. The driver takes them.
  Bytes& output() { return out_; }
  // Valid in kConnecting and kEstablished.
  const ServiceId& service() const { return service_; }
  // The name and port exactly as the client sent them (for logs; the port is
  // not used: a service ID names the whole service).
  const std::string& host() const { return host_; }
  std::uint16_t port() const { return port_; }
  // Set in kFailed after malformed input or a refused target.
  Reject reject() const { return reject_; }
  const std::string& error() const { return error_; }

  // Maps a connect error to the reply the client should get.
  static Reply reply_for(const boost::system::error_code& ec);

 private:
  std::size_t feed_greeting(ByteView in);
  std::size_t feed_auth(ByteView in);
  void finish_auth();
  std::size_t feed_request(ByteView in);
  void finish_request();
  void fail(Reject why, std::string message, bool send_reply, Reply code);
  void queue_reply(Reply code);

  const UserPass* auth_ = nullptr;
  State state_ = State::kGreeting;
  std::array<std::uint8_t, kMaxAuthBytes> buf_{};  // the message being assembled (>= request)
  std::size_t have_ = 0;
  std::size_t need_ = 2;  // bytes the current message needs so far
  bool plen_known_ = false;  // kAuth: PLEN has arrived
  Bytes out_;
  ServiceId service_{};
  std::string host_;
  std::uint16_t port_ = 0;
  Reject reject_ = Reject::kNone;
  std::string error_;  // kFailed's detail beside its typed reason reject_, not an operation's result
};

}  // namespace bc::sal::socks5

#include "sal/gateways/socks5.hpp"

#include <algorithm>
#include <stdexcept>

#include <openssl/crypto.h>

#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>

#include "layers/crypto.hpp"
#include "sal/records/service_id.hpp"

namespace bc::sal::socks5 {
namespace {

// A client-supplied name made safe for logs and error messages.
std::string printable(ByteView raw) {
  std::string s;
  s.reserve(raw.size());
  for (auto c : raw) s.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  return s;
}

bool ends_with_bc(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);  // "x.bc."
  if (name.size() < kServiceHostSuffix.size()) return false;
  auto tail = name.substr(name.size() - kServiceHostSuffix.size());
  return std::equal(tail.begin(), tail.end(), kServiceHostSuffix.begin(), [](char a, char b) {
    return (a >= 'A' && a <= 'Z' ? a + 32 : a) == b;
  });
}

}  // namespace

UserPass::UserPass(std::string_view username, std::string_view password) {
  if (username.empty() || username.size() > 255)
    throw std::invalid_argument("SOCKS5 username must be 1 to 255 bytes (RFC 1929)");
  if (password.empty() || password.size() > 255)
    throw std::invalid_argument("SOCKS5 password must be 1 to 255 bytes (RFC 1929)");
  user_ = sha256(as_bytes(username));
  pass_ = sha256(as_bytes(password));
}

// Compares digests, both always, with CRYPTO_memcmp: no early exit on the
// first wrong byte or on a wrong username.
bool UserPass::check(ByteView username, ByteView password) const {
  const auto u = sha256(username);
  const auto p = sha256(password);
  const int du = CRYPTO_memcmp(u.bytes.data(), user_.bytes.data(), u.bytes.size());
  const int dp = CRYPTO_memcmp(p.bytes.data(), pass_.bytes.data(), p.bytes.size());
  return (du | dp) == 0;
}

std::string_view reject_label(Reject r) {
  switch (r) {
    case Reject::kNone: return "none";
    case Reject::kBadVersion: return "bad_version";
    case Reject::kBadGreeting: return "bad_greeting";
    case Reject::kNoAcceptableMethod: return "no_acceptable_method";
    case Reject::kBadAuthVersion: return "bad_auth_version";
    case Reject::kBadCredentials: return "bad_credentials";
    case Reject::kBadRequestVersion: return "bad_request_version";
    case Reject::kBadReserved: return "bad_reserved";
    case Reject::kUnsupportedCommand: return "unsupported_command";
    case Reject::kUnknownAddressType: return "unknown_address_type";
    case Reject::kIpTarget: return "ip_target";
    case Reject::kNotServiceName: return "not_service_name";
    case Reject::kBadServiceId: return "bad_service_id";
  }
  return "unknown";
}

std::size_t ServerNegotiator::feed(ByteView in) {
  std::size_t used = 0;
  while (used < in.size()) {
    if (state_ == State::kGreeting) {
      used += feed_greeting(in.subspan(used));
    } else if (state_ == State::kAuth) {
      used += feed_auth(in.subspan(used));
    } else if (state_ == State::kRequest) {
      used += feed_request(in.subspan(used));
    } else {
      break;  // connecting, established or failed: the rest is not ours
    }
  }
  return used;
}

// Greeting: VER NMETHODS METHODS[NMETHODS]. Checked byte by byte as soon as
// a field is known, so garbage is refused at its first byte.
std::size_t ServerNegotiator::feed_greeting(ByteView in) {
  std::size_t used = 0;
  while (used < in.size() && have_ < need_) {
    buf_[have_++] = in[used++];
    if (have_ == 1 && buf_[0] != kVersion) {
      fail(Reject::kBadVersion,
           "client does not speak SOCKS5 (first byte " + std::to_string(buf_[0]) +
               ", expected 5); use a SOCKS5 client, e.g. curl --socks5-hostname",
           false, Reply::kGeneralFailure);
      return used;
    }
    if (have_ == 2) {
      if (buf_[1] == 0) {
        fail(Reject::kBadGreeting, "SOCKS5 greeting offers no authentication method", false,
             Reply::kGeneralFailure);
        return used;
      }
      need_ = 2 + std::size_t{buf_[1]};  // <= kMaxGreetingBytes
    }
  }
  if (have_ < need_) return used;
  const auto* first = buf_.data() + 2;
  const auto* last = buf_.data() + need_;
  const std::uint8_t method = auth_ ? kMethodUserPass : kMethodNoAuth;
  if (std::find(first, last, method) == last) {
    out_.insert(out_.end(), {kVersion, kMethodNoneAcceptable});
    fail(Reject::kNoAcceptableMethod,
         auth_ ? "SOCKS5 client does not offer method 2 (username/password); this gateway "
                 "requires credentials: configure the client with the gateway's username and "
                 "password (curl --proxy-user, socks5h://user:pass@host:port)"
               : "SOCKS5 client does not offer method 0 (no authentication), the only one this "
                 "gateway supports; configure the client without a username/password",
         false, Reply::kGeneralFailure);
    return used;
  }
  out_.insert(out_.end(), {kVersion, method});
  state_ = auth_ ? State::kAuth : State::kRequest;
  have_ = 0;
  need_ = auth_ ? 2 : 4;
  return used;
}

// RFC 1929: VER=1 ULEN UNAME PLEN PASSWD; the length is known once ULEN and
// then PLEN have arrived.
std::size_t ServerNegotiator::feed_auth(ByteView in) {
  std::size_t used = 0;
  while (used < in.size() && have_ < need_) {
    buf_[have_++] = in[used++];
    if (have_ == 1 && buf_[0] != kUserPassVersion) {
      out_.insert(out_.end(), {kUserPassVersion, 0x01});
      fail(Reject::kBadAuthVersion,
           "SOCKS5 username/password message has version " + std::to_string(buf_[0]) +
               ", expected 1 (RFC 1929)",
           false, Reply::kGeneralFailure);
      return used;
    }
    if (have_ == 2) need_ = 2 + std::size_t{buf_[1]} + 1;
    if (have_ == need_ && have_ > 2 && !plen_known_) {
      plen_known_ = true;
      need_ += buf_[have_ - 1];
    }
  }
  if (have_ == need_ && plen_known_) finish_auth();
  return used;
}

void ServerNegotiator::finish_auth() {
  const std::size_t ulen = buf_[1];
  const ByteView user{buf_.data() + 2, ulen};
  const ByteView pass{buf_.data() + 3 + ulen, buf_[2 + ulen]};
  if (!auth_->check(user, pass)) {
    out_.insert(out_.end(), {kUserPassVersion, 0x01});
    fail(Reject::kBadCredentials, "SOCKS5 username or password is wrong", false,
         Reply::kGeneralFailure);
    return;
  }
  out_.insert(out_.end(), {kUserPassVersion, 0x00});
  state_ = State::kRequest;
  have_ = 0;
  need_ = 4;
}

// Request: VER CMD RSV ATYP DST.ADDR DST.PORT. The length is known once
// ATYP (and, for names, the length byte) has arrived.
std::size_t ServerNegotiator::feed_request(ByteView in) {
  std::size_t used = 0;
  while (used < in.size() && have_ < need_) {
    buf_[have_++] = in[used++];
    if (have_ == 1 && buf_[0] != kVersion) {
      fail(Reject::kBadRequestVersion,
           "SOCKS5 request has version " + std::to_string(buf_[0]) + ", expected 5", true,
           Reply::kGeneralFailure);
      return used;
    }
    if (have_ == 4) {
      switch (buf_[3]) {
        case kAtypIpv4: need_ = 4 + 4 + 2; break;
        case kAtypIpv6: need_ = 4 + 16 + 2; break;
        case kAtypDomain: need_ = 5; break;
        default:
          fail(Reject::kUnknownAddressType,
               "SOCKS5 request has unknown address type " + std::to_string(buf_[3]), true,
               Reply::kAddressTypeNotSupported);
          return used;
      }
    }
    if (have_ == 5 && buf_[3] == kAtypDomain) need_ = 5 + std::size_t{buf_[4]} + 2;
  }
  if (have_ == need_) finish_request();
  return used;
}

void ServerNegotiator::finish_request() {
  port_ = static_cast<std::uint16_t>(buf_[need_ - 2] << 8 | buf_[need_ - 1]);
  if (buf_[2] != 0) {
    fail(Reject::kBadReserved, "SOCKS5 request has a non-zero reserved byte", true,
         Reply::kGeneralFailure);
    return;
  }
  if (buf_[1] != kCmdConnect) {
    fail(Reject::kUnsupportedCommand,
         "SOCKS5 command " + std::to_string(buf_[1]) +
             " is not supported; only CONNECT (1) is (no BIND, no UDP ASSOCIATE)",
         true, Reply::kCommandNotSupported);
    return;
  }
  if (buf_[3] != kAtypDomain) {
    fail(Reject::kIpTarget,
         "SOCKS5 target is an IP address; this gateway reaches services by name only: connect "
         "to <service-id>.bc and let the gateway resolve it (curl --socks5-hostname, not "
         "--socks5)",
         true, Reply::kAddressTypeNotSupported);
    return;
  }
  const ByteView raw{buf_.data() + 5, buf_[4]};
  host_ = printable(raw);
  if (raw.empty() || !ends_with_bc(host_)) {
    fail(Reject::kNotServiceName,
         "SOCKS5 target '" + host_ + "' is not a service name; use <service-id>.bc", true,
         Reply::kHostUnreachable);
    return;
  }
  auto parsed = parse_service_id(host_);
  if (!parsed) {
    fail(Reject::kBadServiceId, "SOCKS5 target '" + host_ + "': " + parsed.status().message, true,
         Reply::kHostUnreachable);
    return;
  }
  service_ = *parsed;
  state_ = State::kConnecting;
}

void ServerNegotiator::connect_succeeded() {
  if (state_ != State::kConnecting) return;
  queue_reply(Reply::kSucceeded);
  state_ = State::kEstablished;
}

void ServerNegotiator::connect_failed(Reply code) {
  if (state_ != State::kConnecting) return;
  if (code == Reply::kSucceeded) code = Reply::kGeneralFailure;
  queue_reply(code);
  state_ = State::kFailed;
  error_ = "could not connect to service " + host_;
}

void ServerNegotiator::fail(Reject why, std::string message, bool send_reply, Reply code) {
  if (send_reply) queue_reply(code);
  reject_ = why;
  error_ = std::move(message);
  state_ = State::kFailed;
}

// VER REP RSV ATYP=IPv4 BND.ADDR=0.0.0.0 BND.PORT=0: the bound address of a
// flow has no meaning to the client, and every client accepts this form.
void ServerNegotiator::queue_reply(Reply code) {
  out_.insert(out_.end(), {kVersion, static_cast<std::uint8_t>(code), 0x00, kAtypIpv4, 0, 0, 0,
                           0, 0, 0});
}

Reply ServerNegotiator::reply_for(const boost::system::error_code& ec) {
  namespace errc = boost::system::errc;
  namespace aerr = boost::asio::error;
  if (!ec) return Reply::kSucceeded;
  if (ec == errc::connection_refused) return Reply::kConnectionRefused;
  if (ec == errc::host_unreachable || ec == aerr::host_not_found ||
      ec == aerr::host_not_found_try_again || ec == errc::no_such_device_or_address)
    return Reply::kHostUnreachable;
  if (ec == errc::network_unreachable || ec == errc::network_down)
    return Reply::kNetworkUnreachable;
  if (ec == errc::timed_out) return Reply::kTtlExpired;
  if (ec == errc::permission_denied || ec == errc::operation_not_permitted)
    return Reply::kNotAllowed;
  return Reply::kGeneralFailure;
}

}  // namespace bc::sal::socks5

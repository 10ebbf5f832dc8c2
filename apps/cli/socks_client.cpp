#include "apps/cli/socks_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace bc::cli {
namespace {

bool send_all(int fd, const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    const ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

bool recv_exact(int fd, std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    const ssize_t k = ::recv(fd, p, n, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

const char* reply_text(std::uint8_t code) {
  switch (code) {
    case 0x01: return "general failure (is the service ID valid?)";
    case 0x02: return "not allowed by the node's rules";
    case 0x03: return "network unreachable";
    case 0x04: return "no provider of the service could be reached";
    case 0x05: return "connection refused by the provider";
    case 0x06: return "timed out reaching the service";
    case 0x07: return "command not supported";
    case 0x08: return "address type not supported";
  }
  return "unknown SOCKS5 error";
}

}  // namespace

int socks5_connect(const Endpoint& gateway, const std::string& host, std::string& error) {
  if (host.size() > 255) {
    error = "host name longer than 255 bytes";
    return -1;
  }
  sockaddr_storage ss{};
  socklen_t len;
  if (gateway.is_v4()) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(gateway.port);
    a->sin_addr.s_addr = htonl(gateway.v4_addr());
    len = sizeof(sockaddr_in);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(gateway.port);
    std::memcpy(&a->sin6_addr, gateway.ip.data(), 16);
    len = sizeof(sockaddr_in6);
  }
  const int fd = ::socket(ss.ss_family, SOCK_STREAM, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    error = "cannot reach the node's SOCKS5 gateway at " + gateway.to_string() + ": " + std::strerror(errno) +
            " (is blockcloudd running with its gateway on? see `sal_status`)";
    if (fd >= 0) ::close(fd);
    return -1;
  }
  std::vector<std::uint8_t> req{5, 1, 0};
  std::uint8_t rep[2];
  if (!send_all(fd, req.data(), req.size()) || !recv_exact(fd, rep, 2) || rep[0] != 5 || rep[1] != 0) {
    error = "the gateway at " + gateway.to_string() + " did not accept a SOCKS5 greeting";
    ::close(fd);
    return -1;
  }
  req = {5, 1, 0, 3, static_cast<std::uint8_t>(host.size())};
  req.insert(req.end(), host.begin(), host.end());
  req.push_back(0);
  req.push_back(80);  // the gateway ignores the port: the service ID names the service
  std::uint8_t head[4];
  if (!send_all(fd, req.data(), req.size()) || !recv_exact(fd, head, 4)) {
    error = "the gateway closed the connection during the SOCKS5 request";
    ::close(fd);
    return -1;
  }
  if (head[1] != 0) {
    error = std::string("cannot connect to ") + host + ": " + reply_text(head[1]);
    ::close(fd);
    return -1;
  }
  // Skip the bound address in the reply.
  std::size_t addr_len = head[3] == 1 ? 4 : head[3] == 4 ? 16 : 0;
  if (head[3] == 3) {
    std::uint8_t l = 0;
    recv_exact(fd, &l, 1);  // a short read fails the read below
    addr_len = l;
  }
  std::vector<std::uint8_t> skip(addr_len + 2);
  if (!recv_exact(fd, skip.data(), skip.size())) {
    error = "the gateway closed the connection after accepting it";
    ::close(fd);
    return -1;
  }
  return fd;
}

int pump_stdio(int fd, std::string& error) {
  bool in_open = true, out_open = true;
  std::vector<std::uint8_t> buf(64 * 1024);
  while (out_open) {
    pollfd p[2] = {{fd, POLLIN, 0}, {STDIN_FILENO, static_cast<short>(in_open ? POLLIN : 0), 0}};
    if (::poll(p, in_open ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      error = std::string("poll: ") + std::strerror(errno);
      return 1;
    }
    if (in_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      const ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
      if (n <= 0) {
        in_open = false;
        ::shutdown(fd, SHUT_WR);
      } else if (!send_all(fd, buf.data(), static_cast<std::size_t>(n))) {
        error = std::string("sending to the service: ") + std::strerror(errno);
        return 1;
      }
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error = std::string("receiving from the service: ") + std::strerror(errno);
        return 1;
      }
      if (n == 0) {
        out_open = false;
      } else {
        std::size_t off = 0;
        while (off < static_cast<std::size_t>(n)) {
          const ssize_t w = ::write(STDOUT_FILENO, buf.data() + off, static_cast<std::size_t>(n) - off);
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) {
            error = "stdout closed";
            return 1;
          }
          off += static_cast<std::size_t>(w);
        }
      }
    }
  }
  ::close(fd);
  return 0;
}

}  // namespace bc::cli

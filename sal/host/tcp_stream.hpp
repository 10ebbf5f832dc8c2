// sal::ByteStream over a plain TCP socket: the app side of the SOCKS5
// gateway and of `forward`, and a provider's local backend.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "layers/asio_endpoint.hpp"
#include "layers/runtime.hpp"
#include "sal/host/stream.hpp"

namespace bc::sal {

class TcpStream final : public ByteStream {
 public:
  // Takes a connected socket; sets TCP_NODELAY (apps on the other end of a
  // gateway expect interactive latency; bulk writes are large anyway).
  explicit TcpStream(boost::asio::ip::tcp::socket socket);
  ~TcpStream() override;

  void async_read_some(std::span<std::uint8_t> buf, Handler handler) override;
  void async_write(ByteView data, Handler handler) override;
  void shutdown_send() override;
  void close() override;

  boost::asio::ip::tcp::socket& socket() { return socket_; }

  using ConnectHandler =
      std::function<void(const boost::system::error_code&, std::unique_ptr<TcpStream>)>;
  // Connects to `remote`, from `local_bind` if given (address and optionally
  // port). Completes with boost::asio::error::timed_out after `timeout`.
  // The handler runs exactly once, on the io_context's thread.
  static void async_connect(boost::asio::io_context& io, const Endpoint& remote,
                            std::optional<Endpoint> local_bind,
                            std::chrono::milliseconds timeout, ConnectHandler handler);

 private:
  boost::asio::ip::tcp::socket socket_;
};

}  // namespace bc::sal

// The byte-stream contract shared by everything that carries an app's bytes:
// a SAL flow (sal/host/host.hpp), a TCP socket on the app side (SOCKS5 gateway,
// `forward`, a provider's backend), and the splice that joins two of them.
//
// Asio style: operations complete through a handler on the io_context's
// thread. At most one read and one write may be outstanding per stream.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include <boost/system/error_code.hpp>

#include "layers/bytes.hpp"

namespace bc::sal {

using ServiceId = Hash256;

class ByteStream {
 public:
  using Handler = std::function<void(const boost::system::error_code&, std::size_t)>;
  virtual ~ByteStream() = default;

  // Reads at least one byte into `buf` (which must stay valid until the
  // handler runs). The end of the peer's stream completes with
  // boost::asio::error::eof and 0 bytes.
  virtual void async_read_some(std::span<std::uint8_t> buf, Handler handler) = 0;
  // Writes every byte of `data` (valid until the handler runs); completes
  // once the stream has taken them all, or with an error.
  virtual void async_write(ByteView data, Handler handler) = 0;
  // No more writes: the peer reads EOF after the bytes already written.
  virtual void shutdown_send() = 0;
  // Aborts both directions; outstanding operations complete with
  // boost::asio::error::operation_aborted. Idempotent.
  virtual void close() = 0;
};

using ConnectHandler =
    std::function<void(const boost::system::error_code&, std::unique_ptr<ByteStream>)>;

// Opens flows to services by ID (implemented by sal::Host).
class ServiceConnector {
 public:
  virtual ~ServiceConnector() = default;
  virtual void async_connect(const ServiceId& service, ConnectHandler handler) = 0;
};

}  // namespace bc::sal

#include "sal/host/splice.hpp"

#include <algorithm>

#include <boost/asio/error.hpp>

namespace bc::sal {

Splice::Splice(std::unique_ptr<ByteStream> a, std::unique_ptr<ByteStream> b, Handler done,
               SpliceOptions options)
    : a_(std::move(a)), b_(std::move(b)), done_(std::move(done)) {
  max_bytes_ = std::max<std::size_t>(options.buffer_bytes, 1);
  min_bytes_ = std::clamp<std::size_t>(options.min_buffer_bytes, 1, max_bytes_);
  dir_[0] = {a_.get(), b_.get(), std::vector<std::uint8_t>(min_bytes_), 0, false};
  dir_[1] = {b_.get(), a_.get(), std::vector<std::uint8_t>(min_bytes_), 0, false};
}

void Splice::resize_after(Direction& dir, std::size_t n) const {
  const std::size_t size = dir.buf.size();
  std::size_t next = size;
  if (n == size && size < max_bytes_) next = std::min(size * 2, max_bytes_);
  else if (n < size / 4 && size > min_bytes_) next = std::max(size / 2, min_bytes_);
  // A new vector, not resize(): shrinking must give the memory back.
  if (next != size) dir.buf = std::vector<std::uint8_t>(next);
}

std::shared_ptr<Splice> Splice::start(std::unique_ptr<ByteStream> a,
                                      std::unique_ptr<ByteStream> b, Handler done,
                                      SpliceOptions options) {
  auto s = std::make_shared<Splice>(std::move(a), std::move(b), std::move(done), options);
  s->read(0);
  if (!s->finished_) s->read(1);
  return s;
}

void Splice::read(int d) {
  auto& dir = dir_[d];
  dir.from->async_read_some({dir.buf.data(), dir.buf.size()},
                            [self = shared_from_this(), d](const boost::system::error_code& ec,
                                                          std::size_t n) {
                              self->on_read(d, ec, n);
                            });
}

void Splice::on_read(int d, const boost::system::error_code& ec, std::size_t n) {
  if (finished_) return;
  auto& dir = dir_[d];
  if (n > 0) {
    // Write what arrived, then act on the read's error (a stream may report
    // its last bytes together with EOF).
    dir.to->async_write({dir.buf.data(), n}, [self = shared_from_this(), d, n, ec](
                                                 const boost::system::error_code& wec,
                                                 std::size_t) {
      if (self->finished_) return;
      if (wec) return self->fail(wec);
      self->dir_[d].bytes += n;
      self->resize_after(self->dir_[d], n);  // the bytes are written: the buffer is free
      if (!ec) return self->read(d);
      if (ec == boost::asio::error::eof) return self->on_eof(d);
      self->fail(ec);
    });
    return;
  }
  if (ec == boost::asio::error::eof) return on_eof(d);
  // A zero-byte read without error would spin; treat it as a broken stream.
  fail(ec ? ec : make_error_code(boost::asio::error::connection_aborted));
}

void Splice::on_eof(int d) {
  dir_[d].ended = true;
  dir_[d].to->shutdown_send();
  if (dir_[0].ended && dir_[1].ended) finish({});
}

void Splice::fail(const boost::system::error_code& ec) { finish(ec); }

void Splice::finish(const boost::system::error_code& ec) {
  if (finished_) return;
  finished_ = true;
  // Outstanding operations complete as aborted and find finished_ set; the
  // buffers stay valid because each handler holds a reference to *this.
  a_->close();
  b_->close();
  auto done = std::move(done_);
  done_ = nullptr;
  if (done) done(SpliceResult{ec, dir_[0].bytes, dir_[1].bytes});
}

void Splice::stop() {
  if (finished_) return;
  finish(boost::asio::error::operation_aborted);
}

}  // namespace bc::sal

// The storage service's network pieces without a real network: frames over
// in-memory byte streams, the directory's advertisement codec, and the
// client (SalTransport) against ProviderServices (each a shard store on a
// libuv loop driven from Asio) through a connector that hands out stream
// pairs, so put, get and a lost provider run through the same code as on
// the devnet.
#include <doctest/doctest.h>

#include <deque>
#include <set>

#include <boost/asio/post.hpp>

#include "apps/storage/net/directory.hpp"
#include "apps/storage/net/flow_frames.hpp"
#include "apps/storage/net/provider_service.hpp"
#include "apps/storage/net/sal_transport.hpp"
#include "sal/host/host.hpp"
#include "sal/records/service_id.hpp"
#include "tests/storage/pipeline_fixture.hpp"

using namespace bc;
using namespace bc::storage;

namespace {
namespace asio = boost::asio;

// One direction of an in-memory stream.
struct Pipe {
  std::deque<std::uint8_t> bytes;
  bool eof = false;
  std::function<void()> reader;  // a read waiting for bytes
  void wake() {
    auto r = std::move(reader);
    reader = nullptr;
    if (r) r();
  }
};

// A ByteStream over two pipes; reads complete on the io_context.
class MemStream final : public sal::ByteStream {
 public:
  MemStream(asio::io_context& io, std::shared_ptr<Pipe> in, std::shared_ptr<Pipe> out)
      : io_(io), in_(std::move(in)), out_(std::move(out)) {}
  ~MemStream() override { close(); }
  void async_read_some(std::span<std::uint8_t> buf, Handler h) override {
    auto in = in_;
    auto closed = closed_;
    in->reader = [this, in, closed, buf, h] {  // NOLINT: io_ outlives the stream
      asio::post(io_, [in, closed, buf, h] {
        if (*closed) return h(asio::error::operation_aborted, 0);
        if (in->bytes.empty()) return h(asio::error::eof, 0);
        const std::size_t n = std::min(buf.size(), in->bytes.size());
        std::copy_n(in->bytes.begin(), n, buf.begin());
        in->bytes.erase(in->bytes.begin(), in->bytes.begin() + static_cast<std::ptrdiff_t>(n));
        h({}, n);
      });
    };
    if (!in->bytes.empty() || in->eof || *closed) in->wake();
  }
  void async_write(ByteView data, Handler h) override {
    out_->bytes.insert(out_->bytes.end(), data.begin(), data.end());
    out_->wake();
    asio::post(io_, [h, n = data.size()] { h({}, n); });
  }
  void shutdown_send() override {
    out_->eof = true;
    out_->wake();
  }
  void close() override {
    if (*closed_) return;
    *closed_ = true;
    shutdown_send();
    in_->wake();
  }

 private:
  asio::io_context& io_;
  std::shared_ptr<Pipe> in_, out_;
  std::shared_ptr<bool> closed_ = std::make_shared<bool>(false);
};

std::pair<std::unique_ptr<MemStream>, std::unique_ptr<MemStream>> stream_pair(asio::io_context& io) {
  auto a = std::make_shared<Pipe>(), b = std::make_shared<Pipe>();
  return {std::make_unique<MemStream>(io, a, b), std::make_unique<MemStream>(io, b, a)};
}

// Service i is provider i; a provider that is down refuses to connect.
struct Connector final : sal::ServiceConnector {
  asio::io_context& io;
  std::vector<sal::ServiceId> ids;
  std::vector<ProviderService*> providers;
  std::vector<bool> down;
  std::set<std::size_t> silent;  // connect, then never answer
  std::vector<std::unique_ptr<sal::ByteStream>> parked;
  explicit Connector(asio::io_context& io) : io(io) {}
  void async_connect(const sal::ServiceId& service, sal::ConnectHandler h) override {
    const auto i = static_cast<std::size_t>(std::find(ids.begin(), ids.end(), service) - ids.begin());
    REQUIRE(i < ids.size());
    if (down[i]) {
      asio::post(io, [h] { h(sal::make_error_code(sal::HostError::kUnreachable), nullptr); });
      return;
    }
    auto [client, server] = stream_pair(io);
    if (silent.count(i))
      parked.push_back(std::move(server));
    else
      providers[i]->accept(std::move(server));
    auto held = std::make_shared<std::unique_ptr<sal::ByteStream>>(std::move(client));
    asio::post(io, [h, held] { h({}, std::move(*held)); });
  }
};

// n provider services on temporary directories, reachable (none down)
// through conn as "provider 0" .. "provider n-1".
struct Providers {
  std::vector<std::unique_ptr<test::TempDir>> dirs;
  std::vector<std::unique_ptr<ProviderService>> services;
  Providers(asio::io_context& io, Connector& conn, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      dirs.push_back(std::make_unique<test::TempDir>());
      auto s = ProviderService::open(io, StoreOptions{dirs.back()->path(), 64u << 20, {}});
      REQUIRE(s.ok());
      services.push_back(std::move(s).value());
      conn.ids.push_back(sha256(as_bytes("provider " + std::to_string(i))));
      conn.providers.push_back(services.back().get());
      conn.down.push_back(false);
    }
  }
};

// Runs what is ready (poll() stops the io_context when it runs out of work).
void drain(asio::io_context& io) {
  io.restart();
  io.poll();
}

Bytes frame_bytes(std::uint32_t len, std::uint8_t fill) {
  Bytes b{static_cast<std::uint8_t>(len >> 24), static_cast<std::uint8_t>(len >> 16),
          static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len)};
  b.insert(b.end(), len, fill);
  return b;
}
}  // namespace

TEST_CASE("storage net: frames split across reads arrive whole and in order; an oversized one ends the flow") {
  asio::io_context io;
  auto [a, b] = stream_pair(io);
  MemStream* writer = a.get();
  std::vector<Bytes> got;
  std::string closed;
  auto flow = FramedFlow::start(
      std::move(b), 1000, 4000, [&](ByteView f) { got.emplace_back(f.begin(), f.end()); },
      [&](const std::string& why) { closed = why; });
  Bytes wire;
  for (std::uint32_t len : {0u, 1u, 999u, 1000u, 17u}) {
    const Bytes f = frame_bytes(len, static_cast<std::uint8_t>(len));
    wire.insert(wire.end(), f.begin(), f.end());
  }
  // Written in odd pieces, so headers and bodies straddle reads.
  for (std::size_t pos = 0; pos < wire.size(); pos += 333) {
    const std::size_t n = std::min<std::size_t>(333, wire.size() - pos);
    writer->async_write(ByteView(wire.data() + pos, n), [](auto, auto) {});
    drain(io);
  }
  drain(io);
  REQUIRE(got.size() == 5);
  CHECK(got[0].empty());
  CHECK(got[2] == Bytes(999, static_cast<std::uint8_t>(999 & 0xff)));
  CHECK(got[3].size() == 1000);
  CHECK(got[4] == Bytes(17, 17));
  CHECK(closed.empty());
  const Bytes big = frame_bytes(1001, 1);
  writer->async_write(ByteView(big.data(), 4), [](auto, auto) {});  // the header alone is enough
  drain(io);
  CHECK(closed.find("frame of 1001 bytes over the limit of 1000") != std::string::npos);
  CHECK_FALSE(flow->open());
  CHECK(got.size() == 5);
}

TEST_CASE("storage net: frames over the read chunk arrive whole, in order, among small ones, each in its own buffer") {
  asio::io_context io;
  auto [a, b] = stream_pair(io);
  MemStream* writer = a.get();
  std::vector<Bytes> got;
  const std::size_t chunk = FramedFlow::kReadChunk;
  auto flow = FramedFlow::start(
      std::move(b), 1 << 20, 4 << 20,
      [&](Bytes f) {
        CHECK(reinterpret_cast<std::uintptr_t>(f.data()) % 8 == 0);
        got.push_back(std::move(f));
      },
      [&](const std::string& why) { FAIL("flow ended: " << why); }, std::make_shared<FrameBufferPool>(4 << 20));
  // Around the size where a frame stops fitting the read buffer, and far over it.
  const std::vector<std::uint32_t> lens{static_cast<std::uint32_t>(chunk - kFrameHeaderBytes),
                                        static_cast<std::uint32_t>(chunk - kFrameHeaderBytes + 1), 5, 200'000, 3,
                                        1 << 20};
  Bytes wire;
  for (std::size_t i = 0; i < lens.size(); ++i) {
    const Bytes f = frame_bytes(lens[i], static_cast<std::uint8_t>(i + 1));
    wire.insert(wire.end(), f.begin(), f.end());
  }
  for (std::size_t pos = 0; pos < wire.size(); pos += 50'001) {
    const std::size_t n = std::min<std::size_t>(50'001, wire.size() - pos);
    writer->async_write(ByteView(wire.data() + pos, n), [](auto, auto) {});
    drain(io);
  }
  drain(io);
  REQUIRE(got.size() == lens.size());
  for (std::size_t i = 0; i < lens.size(); ++i) CHECK(got[i] == Bytes(lens[i], static_cast<std::uint8_t>(i + 1)));
  CHECK(flow->open());
}

TEST_CASE("frame buffer pool: a buffer given back is taken again for a frame it can hold, up to the pool's bound") {
  FrameBufferPool pool(3000);
  Bytes a = pool.take(1000);
  CHECK(a.size() == 1000);
  const std::uint8_t* kept = a.data();
  pool.give_back(std::move(a));
  CHECK(pool.held_bytes() >= 1000);
  Bytes b = pool.take(2000);  // too large for the kept one: a fresh buffer
  CHECK(b.size() == 2000);
  Bytes c = pool.take(600);   // the kept one, cut to size
  CHECK(c.data() == kept);
  CHECK(c.size() == 600);
  CHECK(pool.held_bytes() == 0);
  pool.give_back(std::move(b));
  pool.give_back(std::move(c));
  CHECK(pool.held_bytes() <= 3000);
  pool.give_back(Bytes(2000));  // past the bound: dropped
  CHECK(pool.held_bytes() <= 3000);
}

TEST_CASE("storage net: a peer's EOF ends the flow once; close() silences the callbacks") {
  asio::io_context io;
  auto [a, b] = stream_pair(io);
  int closes = 0;
  auto flow = FramedFlow::start(std::move(b), 100, 400, [](ByteView) {}, [&](const std::string& why) {
    ++closes;
    CHECK(why == "eof");
  });
  a->shutdown_send();
  drain(io);
  CHECK(closes == 1);
  auto [c, d] = stream_pair(io);
  auto quiet = FramedFlow::start(std::move(d), 100, 400, [](ByteView) { FAIL("frame after close"); },
                                 [](const std::string&) { FAIL("on_close after close"); });
  quiet->close();
  const Bytes f = frame_bytes(3, 3);
  c->async_write(f, [](auto, auto) {});
  c->shutdown_send();
  drain(io);
}

TEST_CASE("storage net: a provider advertisement round-trips (v1: 57 bytes, v2 with clusters: 121); others are refused") {
  ProviderAd ad{sha256(as_bytes("svc")), 4ull << 30, 3ull << 30, 7, {}, {}, {}};
  const Bytes b = encode_provider_ad(ad);
  CHECK(b.size() == kProviderAdBytes);
  CHECK(decode_provider_ad(b) == ad);
  ProviderAd clustered = ad;
  clustered.cluster1 = sha256(as_bytes("level 1"));
  clustered.cluster2 = sha256(as_bytes("level 2"));
  const Bytes c = encode_provider_ad(clustered);
  CHECK(c.size() == kProviderAdV2Bytes);
  CHECK(c[0] == 2);
  CHECK(decode_provider_ad(c) == clustered);
  Bytes shorter(b.begin(), b.end() - 1), longer = b, v2 = b, overfull = b, v1_long = c, v2_short(c.begin(), c.end() - 1);
  longer.push_back(0);
  v2[0] = 2;            // 57 bytes claiming version 2
  v1_long[0] = 1;       // 121 bytes claiming version 1
  overfull[41] = 0xff;  // free > capacity
  for (const Bytes& bad : {shorter, longer, v2, overfull, v1_long, v2_short, Bytes{}})
    CHECK_FALSE(decode_provider_ad(bad).has_value());
}

TEST_CASE("storage net: a v3 advertisement carries the owner whose key names the service; a foreign owner is refused") {
  const KeyPair owner = KeyPair::generate(), thief = KeyPair::generate();
  ProviderAd ad{sal::service_id_of(owner.public_key(), kStorageServiceName), 4ull << 30, 3ull << 30, 7, {}, {}, {}};
  ad.owner = owner.public_key();
  const Bytes b = encode_provider_ad(ad);
  CHECK(b.size() == kProviderAdV3Bytes);
  CHECK(b[0] == 3);
  CHECK(decode_provider_ad(b) == ad);  // unknown clusters stay unknown
  ad.cluster1 = sha256(as_bytes("level 1"));
  CHECK(decode_provider_ad(encode_provider_ad(ad)) == ad);
  // Another key cannot claim the service (and so be paid for it).
  ProviderAd stolen = ad;
  stolen.owner = thief.public_key();
  CHECK_FALSE(decode_provider_ad(encode_provider_ad(stolen)).has_value());
  Bytes bad_key = encode_provider_ad(ad);
  std::fill(bad_key.end() - 32, bad_key.end(), 0xff);  // not a point on the curve
  CHECK_FALSE(decode_provider_ad(bad_key).has_value());
}

TEST_CASE("storage net: put and get through SalTransport and ProviderServices; 2 providers unreachable, still whole") {
  asio::io_context io;
  Connector conn(io);
  Providers providers(io, conn, 6);
  const auto& services = providers.services;
  const Bytes data = test::test_bytes(5 * test::kSegment + 4321, 9);
  PutOptions opts = test::options();
  opts.expires_at = sal::Host::now_ms() + 3'600'000;  // the providers check expiry against their clock
  StoredFile f;
  {
    SalTransport t(io, conn, conn.ids, SalTransportOptions{5'000});
    StorageClient client(test::master_key(), t);
    auto put = client.put(test::source_of(data), opts, sal::Host::now_ms());
    REQUIRE_MESSAGE(put.ok(), put.status().text());
    f = *put;
    CHECK(client.stats().shards_sent == 6 * 6);
    for (const auto& s : services) CHECK(s->store().used_bytes() > 0);
  }
  conn.down[0] = conn.down[3] = true;
  SalTransport t(io, conn, conn.ids, SalTransportOptions{5'000});
  StorageClient client(test::master_key(), t);
  auto back = test::get_all(client, f);
  REQUIRE_MESSAGE(back.ok(), back.status().text());
  CHECK(*back == data);
  CHECK(t.down(0));
  CHECK(t.down(3));
  CHECK(t.why_down(0).find("connect") != std::string::npos);
  CHECK(client.stats().decodes > 0);
}

TEST_CASE("storage net: measure_rtts times each provider's answer; down and silent ones get -1, the silent one stays usable") {
  asio::io_context io;
  Connector conn(io);
  Providers providers(io, conn, 4);
  conn.down[1] = true;
  conn.silent.insert(2);
  SalTransport t(io, conn, conn.ids, SalTransportOptions{5'000});
  const Bytes probe = encode_request({7, AuditRequest{ShardId{}, Hash256{}}});
  const auto rtt = t.measure_rtts(probe, 50);
  REQUIRE(rtt.size() == 4);
  CHECK(rtt[0] >= 0);
  CHECK(rtt[3] >= 0);
  CHECK(rtt[1] == -1);
  CHECK(t.down(1));
  CHECK(rtt[2] == -1);
  CHECK_FALSE(t.down(2));  // a straggler is not marked down: its flow is closed and reopened when needed
  // The next exchange reaches the measured providers on their open flows.
  auto answers = t.exchange({{0, probe}, {3, probe}});
  CHECK(answers.size() == 2);
}

// The sliding window's parts: the worker thread, the in-place decoding of a
// data answer, and the default send/collect of a ShardTransport.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "apps/storage/cpu_worker.hpp"
#include "apps/storage/messages.hpp"
#include "tests/storage/helpers.hpp"
#include "tests/storage/pipeline_fixture.hpp"

using namespace bc;
using namespace bc::storage;
using namespace bc::storage::test;

TEST_CASE("cpu worker: jobs run in order, each reported once") {
  CpuWorker w({});
  std::vector<int> ran;  // written by the worker only, read after take_done
  for (int i = 0; i < 5; ++i) w.submit(static_cast<std::uint64_t>(100 + i), [&ran, i] { ran.push_back(i); });
  CHECK(w.unfinished() == 5);
  std::vector<std::uint64_t> done;
  while (done.size() < 5) {
    w.wait_done();
    for (auto t : w.take_done()) done.push_back(t);
  }
  CHECK(done == std::vector<std::uint64_t>{100, 101, 102, 103, 104});
  CHECK(ran == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(w.unfinished() == 0);
  w.wait_done();  // nothing queued or waiting: returns at once
  CHECK(w.take_done().empty());
}
// on_done runs after the job is reported (it may still run when take_done
// sees the tag); by the destructor's join every call has run.
TEST_CASE("cpu worker: on_done has run once per job by the time the worker is gone") {
  std::atomic<int> woken{0};
  {
    CpuWorker w([&] { ++woken; });
    for (int i = 0; i < 5; ++i) w.submit(static_cast<std::uint64_t>(i), [] {});
    for (std::size_t done = 0; done < 5;) {
      w.wait_done();
      done += w.take_done().size();
    }
  }
  CHECK(woken.load() == 5);
}

TEST_CASE("decode_data_view: a data answer's bytes in place; failures, garbage and misaligned frames are not data") {
  const Bytes data = test_bytes(5000, 7);
  const Bytes frame = encode_response(Response{42, DataResponse{data}});
  auto v = decode_data_view(frame);
  REQUIRE(v.has_value());
  CHECK(v->request_id == 42);
  CHECK(Bytes(v->data.begin(), v->data.end()) == data);
  CHECK(v->data.data() >= frame.data());
  CHECK(v->data.data() + v->data.size() <= frame.data() + frame.size());  // a view into the frame, not a copy

  CHECK_FALSE(decode_data_view(encode_response(failure_response(43, fail(Error::kNotFound, "gone")))).has_value());
  CHECK_FALSE(decode_data_view(Bytes(frame.begin(), frame.begin() + 24)).has_value());
  Bytes shifted(frame.size() + 1);
  std::memcpy(shifted.data() + 1, frame.data(), frame.size());
  CHECK_FALSE(decode_data_view(ByteView(shifted.data() + 1, frame.size())).has_value());
  CHECK(decode_response(ByteView(shifted.data() + 1, frame.size())).ok());  // the copying decoder still reads it
}

TEST_CASE("frames built in place: a filled data frame and a put decode to what they carry, as one segment") {
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{5000}, std::size_t{5001}, std::size_t{kMaxShardBytes}}) {
    const Bytes data = test_bytes(n, 9);
    DataFrame f = encode_data_frame(77, n);
    REQUIRE(f.data_offset + n <= f.frame.size());
    std::copy(data.begin(), data.end(), f.frame.begin() + static_cast<std::ptrdiff_t>(f.data_offset));
    CHECK(f.data_offset <= 64);                                // segment table, root pointer, the Response struct
    CHECK(f.frame.size() == f.data_offset + (n + 7) / 8 * 8);  // then the data, padded to a word: nothing more
    auto v = decode_data_view(f.frame);
    REQUIRE(v.has_value());
    CHECK(v->request_id == 77);
    CHECK(v->data.data() == f.frame.data() + f.data_offset);
    CHECK(Bytes(v->data.begin(), v->data.end()) == data);
    if (n == 0) continue;
    const ShardId root = sha256(data);
    const Hash256 token_hash = sha256(root.view());
    const Bytes put = encode_put(78, root, data, token_hash, 123'456, {});
    CHECK(put[0] == 0);  // one segment
    RequestDecode d = decode_request(put);
    REQUIRE(d.status.ok());
    auto* p = std::get_if<PutShardRequest>(&d.request.body);
    REQUIRE(p != nullptr);
    CHECK(d.request.request_id == 78);
    CHECK(p->shard == root);
    CHECK(p->data == data);
    CHECK(p->delete_token_hash == token_hash);
    CHECK(p->expires_at == 123'456);
  }
}

TEST_CASE("frames built in recycled buffers: byte for byte what fresh ones give, whatever the buffers held") {
  for (std::size_t n : {std::size_t{1}, std::size_t{5001}, std::size_t{kMaxShardBytes}}) {
    const Bytes data = test_bytes(n, 3);
    const ShardId root = sha256(data);
    const Hash256 escrow = sha256(root.view());
    Bytes garbage(put_frame_bytes(n) + 100, 0xa5);  // larger than needed: its capacity is reused
    const Bytes fresh_put = encode_put(5, root, data, escrow, 99, escrow);
    const Bytes reused_put = encode_put(5, root, data, escrow, 99, escrow, std::move(garbage));
    CHECK(reused_put == fresh_put);

    DataFrame fresh = encode_data_frame(6, n);
    DataFrame reused = encode_data_frame(6, n, Bytes(data_frame_bytes(n), 0x5a));
    REQUIRE(reused.data_offset == fresh.data_offset);
    REQUIRE(reused.frame.size() == fresh.frame.size());
    for (DataFrame* f : {&fresh, &reused})
      std::copy(data.begin(), data.end(), f->frame.begin() + static_cast<std::ptrdiff_t>(f->data_offset));
    CHECK(reused.frame == fresh.frame);  // nothing of the old bytes outside the data the caller filled
  }
}

TEST_CASE("shard transport: the default send/collect runs one exchange and names the providers that did not answer") {
  Net n(6);
  n.net->set_down(2, true);
  const Bytes probe = encode_request(Request{7, AuditRequest{ShardId{}, Hash256{}}});
  ShardTransport& t = *n.net;
  CHECK(t.collect().settled);  // nothing held: at once
  t.send({{0, probe}, {2, probe}});
  t.send({{3, probe}});
  ShardTransport::Collected c = t.collect();
  CHECK(c.settled);
  CHECK(c.answers.size() == 2);
  CHECK(c.gave_up == std::vector<std::size_t>{2});
  CHECK(t.collect().answers.empty());
}

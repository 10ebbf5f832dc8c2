// The wire codec and the provider core through its in-process driver:
// answers, and bad input rejected with a counted reason.
#include <doctest/doctest.h>

#include <fstream>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include "apps/storage/chunk_lists.hpp"
#include "apps/storage/local_provider.hpp"
#include "apps/storage/merkle.hpp"
#include "apps/storage/messages.hpp"
#include "apps/storage/wire/storage.capnp.h"
#include "layers/crypto.hpp"
#include "ledger/pos/codec.hpp"
#include "ledger/pos/storage_proof.hpp"
#include "tests/storage/helpers.hpp"

using namespace bc;
using namespace bc::storage;
using namespace bc::storage::test;

namespace {

constexpr PeerId kPeer = 7;
constexpr TimeMs kNow = 5'000;

struct Fixture {
  TempDir dir;
  Loop loop;
  std::unique_ptr<LocalProvider> provider;
  PeerId peer = kPeer;  // the connection call() uses

  explicit Fixture(std::uint64_t capacity = 16u << 20, ProviderOptions options = {}) {
    auto p = LocalProvider::open(loop.get(), StoreOptions{dir.path(), capacity, {}}, options);
    REQUIRE(p.ok());
    provider = std::move(p).value();
    provider->connect(kPeer, kNow);
  }
  ~Fixture() { loop.run(); }

  // Sends one frame and returns the decoded answers.
  std::vector<Response> call(ByteView frame) {
    provider->deliver(peer, frame, kNow);
    loop.run();
    std::vector<Response> out;
    for (auto& f : provider->take_frames()) {
      auto r = decode_response(f.payload);
      REQUIRE(r.ok());
      out.push_back(std::move(r).value());
    }
    return out;
  }
  Response one(const Request& req) {
    auto answers = call(encode_request(req));
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].request_id == req.request_id);
    return answers[0];
  }
};

Error failure_code(const Response& r) {
  auto* f = std::get_if<FailureResponse>(&r.body);
  return f ? f->code : Error::kOk;
}

PutShardRequest put_of(const Bytes& data, const Key256& token, TimeMs expires = kNow + 1000) {
  return PutShardRequest{shard_root(data), data, sha256(token), expires, {}};
}

}  // namespace

TEST_CASE("wire: every request and response kind round-trips") {
  Key256 token{};
  token[3] = 3;
  Bytes data = test_bytes(5000, 1);
  const Request reqs[] = {Request{1, put_of(data, token)}, Request{2, GetRangeRequest{shard_root(data), 10, 20}},
                          Request{3, DeleteShardRequest{shard_root(data), token}},
                          Request{4, AuditRequest{shard_root(data), sha256(data)}},
                          Request{10, ChunkListRequest{sha256(data), 5, 100}}};
  for (const Request& r : reqs) {
    RequestDecode d = decode_request(encode_request(r));
    REQUIRE(d.status.ok());
    CHECK(d.request.request_id == r.request_id);
    CHECK(d.request.body.index() == r.body.index());
  }
  CHECK(encode_request(reqs[0]) == encode_put(1, shard_root(data), data, sha256(token), kNow + 1000, {}));
  // A put naming its escrow carries it; one of the wrong length is refused.
  PutShardRequest paid = put_of(data, token);
  paid.escrow_id = sha256(token);
  const Bytes paid_frame = encode_request(Request{12, paid});
  CHECK(paid_frame == encode_put(12, shard_root(data), data, sha256(token), kNow + 1000, paid.escrow_id));
  CHECK(std::get<PutShardRequest>(decode_request(paid_frame).request.body).escrow_id == paid.escrow_id);
  CHECK(std::get<PutShardRequest>(decode_request(encode_request(reqs[0])).request.body).escrow_id.is_zero());
  {
    capnp::MallocMessageBuilder message;
    auto o = message.initRoot<wire::Request>().initPut();
    o.setShardId(kj::arrayPtr(paid.shard.data(), 32));
    o.setData(kj::arrayPtr(data.data(), data.size()));
    o.setDeleteTokenHash(kj::arrayPtr(paid.delete_token_hash.data(), 32));
    o.setEscrowId(kj::arrayPtr(paid.escrow_id.data(), 31));
    auto flat = capnp::messageToFlatArray(message);
    auto bytes = flat.asBytes();
    RequestDecode d = decode_request(Bytes(bytes.begin(), bytes.end()));
    CHECK(error_of(d.status) == Error::kMalformed);
  }
  const Response resps[] = {Response{5, StoredResponse{5000}}, Response{6, DataResponse{data}}, Response{7, DeletedResponse{}},
                            Response{8, AuditAnswer{make_proof(data, 3), {}}}, Response{9, FailureResponse{Error::kBusy, "later"}},
                            Response{11, ChunkPageResponse{7, {shard_root(data), sha256(data)}}}};
  for (const Response& r : resps) {
    auto d = decode_response(encode_response(r));
    REQUIRE(d.ok());
    CHECK(d->request_id == r.request_id);
    CHECK(d->body.index() == r.body.index());
  }
  CHECK(std::get<ChunkListRequest>(decode_request(encode_request(reqs[4])).request.body) ==
        std::get<ChunkListRequest>(reqs[4].body));
  CHECK(std::get<ChunkPageResponse>(decode_response(encode_response(resps[5]))->body) == std::get<ChunkPageResponse>(resps[5].body));
  auto proof = decode_response(encode_response(resps[3]));
  CHECK(verify_proof(shard_root(data), std::get<AuditAnswer>(proof->body).proof).ok());
}

TEST_CASE("wire: a put decoded in place names where its shard lies in the frame; a misaligned frame is copied") {
  Key256 token{};
  token[0] = 4;
  const Bytes data = test_bytes(70'000, 5);
  const Bytes frame = encode_request(Request{1, put_of(data, token)});
  RequestDecode d = decode_request(frame, PutData::kInFrame);
  REQUIRE(d.status.ok());
  const auto& span = d.put_in_frame;
  REQUIRE(span);
  CHECK(std::get<PutShardRequest>(d.request.body).data.empty());
  REQUIRE(span->offset + span->size <= frame.size());
  CHECK(Bytes(frame.begin() + static_cast<std::ptrdiff_t>(span->offset),
              frame.begin() + static_cast<std::ptrdiff_t>(span->offset + span->size)) == data);
  Bytes shifted(frame.size() + 1);
  std::copy(frame.begin(), frame.end(), shifted.begin() + 1);
  RequestDecode copied = decode_request(ByteView(shifted).subspan(1), PutData::kInFrame);
  REQUIRE(copied.status.ok());
  CHECK_FALSE(copied.put_in_frame);
  CHECK(std::get<PutShardRequest>(copied.request.body).data == data);
}

TEST_CASE("provider: a put handed over as its frame is checked and stored from the frame") {
  Fixture f;
  Key256 token{};
  token[0] = 6;
  const Bytes data = test_bytes(300'000, 7);
  auto owned_call = [&](const Request& req) {
    f.provider->deliver(kPeer, encode_request(req), kNow);
    f.loop.run();
    auto frames = f.provider->take_frames();
    REQUIRE(frames.size() == 1);
    auto r = decode_response(frames[0].payload);
    REQUIRE(r.ok());
    return std::move(r).value();
  };
  CHECK(std::get<StoredResponse>(owned_call(Request{1, put_of(data, token)}).body).size == data.size());
  auto got = f.one(Request{2, GetRangeRequest{shard_root(data), 0, 1u << 20}});
  CHECK(std::get<DataResponse>(got.body).data == data);
  Bytes bad = data;
  bad[1000] ^= 1;
  CHECK(failure_code(owned_call(Request{3, PutShardRequest{shard_root(data), bad, sha256(token), kNow + 1000}})) ==
        Error::kBadRoot);
  CHECK(failure_code(owned_call(Request{4, put_of(bad, token, kNow)})) == Error::kExpired);
  CHECK(f.provider->store().used_bytes() == data.size());
}

TEST_CASE("provider: put, get-range, audit and delete over the core and the libuv store") {
  Fixture f;
  Key256 token{};
  token[0] = 1;
  const Bytes data = test_bytes(10'000, 2);
  const ShardId id = shard_root(data);
  CHECK(std::get<StoredResponse>(f.one(Request{1, put_of(data, token)}).body).size == data.size());
  auto got = f.one(Request{2, GetRangeRequest{id, 100, 50}});
  CHECK(std::get<DataResponse>(got.body).data == Bytes(data.begin() + 100, data.begin() + 150));
  const Hash256 seed = sha256(as_bytes("seed"));
  auto proof = std::get<AuditAnswer>(f.one(Request{3, AuditRequest{id, seed}}).body).proof;
  CHECK(proof.leaf_index == audit_leaf_index(seed, id, data.size()));
  CHECK(verify_proof(id, proof).ok());
  Key256 wrong = token;
  wrong[0] = 2;
  CHECK(failure_code(f.one(Request{4, DeleteShardRequest{id, wrong}})) == Error::kBadToken);
  CHECK(std::holds_alternative<DeletedResponse>(f.one(Request{5, DeleteShardRequest{id, token}}).body));
  CHECK(failure_code(f.one(Request{6, GetRangeRequest{id, 0, 10}})) == Error::kNotFound);
  CHECK(failure_code(f.one(Request{7, AuditRequest{id, seed}})) == Error::kNotFound);
  CHECK(f.provider->core().stats().stored == 1);
  CHECK(f.provider->core().stats().audits == 1);
}

TEST_CASE("provider: audit answers are signed under the storage probe's rule; a damaged shard is never signed") {
  ProviderOptions options;
  options.answer_key = KeyPair::generate();
  Fixture f(16u << 20, options);
  Key256 token{};
  const Bytes data = test_bytes(9'000, 4);
  const ShardId id = shard_root(data);
  REQUIRE(std::holds_alternative<StoredResponse>(f.one(Request{1, put_of(data, token)}).body));
  const Hash256 seed = sha256(as_bytes("probe"));
  const AuditAnswer a = std::get<AuditAnswer>(f.one(Request{2, AuditRequest{id, seed}}).body);
  const pos::StorageAnswer signed_answer{id, seed, a.proof, a.signature};
  CHECK(pos::storage_answer_mismatch(signed_answer) == nullptr);
  CHECK(pos::verify_storage_answer(signed_answer, options.answer_key->public_key()));
  // The same answer for another seed is not what the provider signed.
  CHECK_FALSE(pos::verify_storage_answer(pos::StorageAnswer{id, sha256(as_bytes("other")), a.proof, a.signature},
                                         options.answer_key->public_key()));

  // One flipped byte on disk: the provider says so rather than sign a proof that would convict it.
  {
    std::fstream file(f.provider->store().shard_path(id), std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(a.proof.leaf_index * kLeafSize);
    file.put(static_cast<char>(data[a.proof.leaf_index * kLeafSize] ^ 1));
  }
  CHECK(failure_code(f.one(Request{3, AuditRequest{id, seed}})) == Error::kCorrupt);
}

TEST_CASE("provider: a storage offer's chunk list is served in pages from its root") {
  Fixture f;
  std::vector<ShardId> list;
  for (int i = 0; i < 10; ++i) list.push_back(sha256(as_bytes("shard " + std::to_string(i))));
  const Hash256 root = f.provider->core().add_chunk_list(list);
  CHECK(root == merkle::list_root(list));
  std::vector<ShardId> got;
  for (std::uint64_t first = 0; first < 12; first += 4) {
    auto page = std::get<ChunkPageResponse>(f.one(Request{first + 1, ChunkListRequest{root, first, 4}}).body);
    CHECK(page.total == 10);
    got.insert(got.end(), page.shards.begin(), page.shards.end());
  }
  CHECK(got == list);
  CHECK(failure_code(f.one(Request{20, ChunkListRequest{sha256(as_bytes("other")), 0, 4}})) == Error::kNotFound);
  CHECK(failure_code(f.one(Request{21, ChunkListRequest{root, 0, kMaxChunksPerPage + 1}})) == Error::kOversized);
  CHECK(f.provider->core().stats().chunk_pages == 3);
  // Released (its offers ended): no longer served.
  CHECK(f.provider->core().remove_chunk_list(root) == list);
  CHECK(f.provider->core().remove_chunk_list(root).empty());
  CHECK(failure_code(f.one(Request{22, ChunkListRequest{root, 0, 4}})) == Error::kNotFound);
}

TEST_CASE("chunk lists: saved durably, loaded back; a damaged file is skipped and named") {
  TempDir dir;
  const std::vector<ShardId> a = {sha256(as_bytes("a")), sha256(as_bytes("b"))}, b = {sha256(as_bytes("c"))};
  auto ra = save_chunk_list(dir.path() / "offers", a);
  auto rb = save_chunk_list(dir.path() / "offers", b);
  REQUIRE(ra.ok());
  REQUIRE(rb.ok());
  CHECK(*ra == merkle::list_root(a));
  auto loaded = load_chunk_lists(dir.path() / "offers");
  CHECK(loaded.skipped.empty());
  REQUIRE(loaded.lists.size() == 2);
  CHECK((loaded.lists[0] == a || loaded.lists[1] == a));
  // A list file whose content no longer matches its name is not served.
  std::ofstream(dir.path() / "offers" / rb->hex(), std::ios::binary | std::ios::app).write("x", 1);
  loaded = load_chunk_lists(dir.path() / "offers");
  CHECK(loaded.lists.size() == 1);
  REQUIRE(loaded.skipped.size() == 1);
  CHECK(loaded.skipped[0].find(rb->hex()) != std::string::npos);
  CHECK(load_chunk_lists(dir.path() / "none").lists.empty());
  // A released list is gone for good; releasing it again is fine.
  REQUIRE(remove_chunk_list(dir.path() / "offers", *ra).ok());
  CHECK(remove_chunk_list(dir.path() / "offers", *ra).ok());
  CHECK(load_chunk_lists(dir.path() / "offers").lists.empty());
}

TEST_CASE("provider: data that does not hash to its id, an expired put and a full disk are refused") {
  Fixture f(20'000);
  Key256 token{};
  Bytes data = test_bytes(8000, 3);
  PutShardRequest bad = put_of(data, token);
  bad.data[5] ^= 1;
  CHECK(failure_code(f.one(Request{1, bad})) == Error::kBadRoot);
  CHECK(failure_code(f.one(Request{2, put_of(data, token, kNow)})) == Error::kExpired);
  REQUIRE(failure_code(f.one(Request{3, put_of(data, token)})) == Error::kOk);
  REQUIRE(failure_code(f.one(Request{4, put_of(test_bytes(8000, 4), token)})) == Error::kOk);
  CHECK(failure_code(f.one(Request{5, put_of(test_bytes(8000, 5), token)})) == Error::kQuotaExceeded);
  const auto& rejected = f.provider->core().stats().rejected;
  CHECK(rejected.at("bad_root") == 1);
  CHECK(rejected.at("expired") == 1);
  CHECK(rejected.at("quota_exceeded") == 1);
}

TEST_CASE("provider: truncated and oversized frames are rejected with a reason") {
  Fixture f;
  Key256 token{};
  const Bytes frame = encode_request(Request{1, put_of(test_bytes(3000, 6), token)});
  // Cut mid-message: no request id can be trusted, so the peer is dropped.
  CHECK(f.call(ByteView(frame).first(frame.size() - 16)).empty());
  CHECK(f.provider->take_disconnects() == std::vector<PeerId>{kPeer});
  CHECK(f.provider->core().stats().rejected.at("truncated") == 1);

  f.provider->connect(kPeer + 1, kNow);
  Bytes huge(kMaxRequestBytes + 8, 0);
  f.provider->deliver(kPeer + 1, huge, kNow);
  CHECK(f.provider->take_disconnects() == std::vector<PeerId>{kPeer + 1});
  CHECK(f.provider->core().stats().rejected.at("oversized") == 1);

  // A well-framed put whose shard is over the limit is answered, not dropped.
  f.peer = kPeer + 2;
  f.provider->connect(f.peer, kNow);
  Bytes big(kMaxShardBytes + 1, 1);
  Request req{9, PutShardRequest{shard_root(big), big, sha256(token), kNow + 1000}};
  auto answers = f.call(encode_request(req));
  REQUIRE(answers.size() == 1);
  CHECK(failure_code(answers[0]) == Error::kOversized);
  CHECK(failure_code(f.one(Request{10, GetRangeRequest{shard_root(big), 0, kMaxShardBytes + 1}})) == Error::kOversized);
  CHECK(failure_code(f.one(Request{11, GetRangeRequest{shard_root(big), 0, 0}})) == Error::kMalformed);
}

TEST_CASE("provider: a peer cannot queue more than its in-flight limit") {
  Fixture f(16u << 20, ProviderOptions{.max_inflight_per_peer = 2});
  Key256 token{};
  for (std::uint64_t i = 0; i < 4; ++i)
    f.provider->deliver(kPeer, encode_request(Request{i, put_of(test_bytes(1000, 10 + i), token)}), kNow);
  f.loop.run();
  int stored = 0, busy = 0;
  for (auto& fr : f.provider->take_frames()) {
    auto r = decode_response(fr.payload);
    REQUIRE(r.ok());
    stored += std::holds_alternative<StoredResponse>(r->body);
    busy += failure_code(*r) == Error::kBusy;
  }
  CHECK(stored == 2);
  CHECK(busy == 2);
}

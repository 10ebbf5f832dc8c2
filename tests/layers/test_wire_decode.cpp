#include <doctest/doctest.h>

#include <cstring>
#include <stdexcept>

#include "layers/crypto.hpp"
#include "layers/runtime.hpp"
#include "layers/wire/decode.hpp"
#include "layers/wire/test.capnp.h"

using bc::wire::DecodeError;
using bc::wire::DecodeLimits;

namespace {

bc::Bytes flatten(capnp::MessageBuilder& mb) {
  auto words = capnp::messageToFlatArray(mb);
  auto bytes = words.asBytes();
  return bc::Bytes(bytes.begin(), bytes.end());
}

bc::Bytes sample_message() {
  capnp::MallocMessageBuilder mb;
  auto root = mb.initRoot<WireTestItem>();
  root.setId(42);
  root.setName("hello");
  root.setFlag(true);
  auto child = root.initChild();
  child.setId(7);
  auto items = root.initItems(3);
  for (unsigned i = 0; i < 3; ++i) items[i].setId(100 + i);
  return flatten(mb);
}

const DecodeLimits kLimits{8192, 4096, 8};

struct Seen {
  std::uint64_t id = 0;
  std::string name;
  std::uint64_t child_id = 0;
  std::vector<std::uint64_t> items;
};

DecodeError read_all(bc::ByteView data, const DecodeLimits& limits, Seen& out) {
  return bc::wire::decode<WireTestItem>(data, limits, [&](WireTestItem::Reader r) {
    out.id = r.getId();
    out.name = r.getName().cStr();
    out.child_id = r.getChild().getId();
    for (auto it : r.getItems()) out.items.push_back(it.getId());
  });
}

void put_le32(bc::Bytes& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

}  // namespace

TEST_CASE("wire decode: a well-formed message is read within limits") {
  auto bytes = sample_message();
  Seen s;
  CHECK(read_all(bytes, kLimits, s) == DecodeError::kOk);
  CHECK(s.id == 42);
  CHECK(s.name == "hello");
  CHECK(s.child_id == 7);
  CHECK(s.items == std::vector<std::uint64_t>{100, 101, 102});
}

TEST_CASE("wire decode: misaligned input is copied and still decodes") {
  auto bytes = sample_message();
  bc::Bytes shifted(bytes.size() + 8);
  for (std::size_t off = 1; off < 8; ++off) {
    std::memcpy(shifted.data() + off, bytes.data(), bytes.size());
    Seen s;
    CHECK(read_all(bc::ByteView(shifted.data() + off, bytes.size()), kLimits, s) == DecodeError::kOk);
    CHECK(s.name == "hello");
  }
}

TEST_CASE("wire decode: size and framing errors get their own reasons") {
  auto bytes = sample_message();
  Seen s;
  CHECK(read_all({}, kLimits, s) == DecodeError::kEmpty);
  CHECK(read_all(bytes, DecodeLimits{bytes.size() - 8, 4096, 8}, s) == DecodeError::kOversized);
  CHECK(read_all(bytes, DecodeLimits{bytes.size(), 4096, 8}, s) == DecodeError::kOk);

  bc::ByteView v(bytes);
  CHECK(read_all(v.first(v.size() - 1), kLimits, s) == DecodeError::kTruncated);  // not whole words
  CHECK(read_all(v.first(v.size() - 8), kLimits, s) == DecodeError::kTruncated);  // short of its table
  CHECK(read_all(v.first(4), kLimits, s) == DecodeError::kTruncated);

  bc::Bytes longer = bytes;
  longer.resize(bytes.size() + 8);
  CHECK(read_all(longer, kLimits, s) == DecodeError::kTrailingData);

  bc::Bytes many = bytes;
  put_le32(many, 0, 0xFFFFFFFFu);  // 2^32 segments claimed
  CHECK(read_all(many, kLimits, s) == DecodeError::kOversized);
  put_le32(many, 0, 20);  // 21 segments > max_segments
  CHECK(read_all(many, kLimits, s) == DecodeError::kOversized);

  bc::Bytes huge_seg = bytes;
  put_le32(huge_seg, 4, 0xFFFFFFFFu);  // segment 0 claims 32 GiB
  CHECK(read_all(huge_seg, kLimits, s) == DecodeError::kTruncated);

  CHECK(std::string(bc::wire::to_string(DecodeError::kTrailingData)) == "trailing_data");
  CHECK(std::string(bc::wire::to_string(DecodeError::kLimitExceeded)) == "limit_exceeded");
}

TEST_CASE("wire decode: a root pointer out of bounds is malformed, not a crash") {
  // One segment of one word: a struct pointer whose offset points far past the end.
  bc::Bytes bytes(16, 0);
  put_le32(bytes, 0, 0);  // 1 segment
  put_le32(bytes, 4, 1);  // of 1 word
  std::uint64_t ptr = (std::uint64_t{1000} << 2) | (std::uint64_t{1} << 32);  // offset 1000, 1 data word
  for (int i = 0; i < 8; ++i) bytes[8 + i] = static_cast<std::uint8_t>(ptr >> (8 * i));
  Seen s;
  CHECK(read_all(bytes, kLimits, s) == DecodeError::kMalformed);
}

TEST_CASE("wire decode: traversal and nesting limits stop amplification") {
  capnp::MallocMessageBuilder mb;
  auto root = mb.initRoot<WireTestItem>();
  auto items = root.initItems(1000);
  for (unsigned i = 0; i < 1000; ++i) items[i].setId(i);
  auto wide = flatten(mb);
  Seen s;
  CHECK(read_all(wide, DecodeLimits{1 << 20, 100, 8}, s) == DecodeError::kLimitExceeded);
  Seen s2;
  CHECK(read_all(wide, DecodeLimits{1 << 20, 1 << 16, 8}, s2) == DecodeError::kOk);
  CHECK(s2.items.size() == 1000);

  capnp::MallocMessageBuilder deep_mb;
  auto node = deep_mb.initRoot<WireTestItem>();
  for (int depth = 0; depth < 20; ++depth) node = node.initChild();
  node.setId(99);
  auto deep = flatten(deep_mb);
  auto walk = [](WireTestItem::Reader r) {
    while (r.hasChild()) r = r.getChild();
    if (r.getId() != 99) throw std::runtime_error("did not reach the leaf");
  };
  CHECK(bc::wire::decode<WireTestItem>(deep, DecodeLimits{8192, 4096, 8}, walk) == DecodeError::kLimitExceeded);
  CHECK(bc::wire::decode<WireTestItem>(deep, DecodeLimits{8192, 4096, 32}, walk) == DecodeError::kOk);
}

TEST_CASE("wire decode: the codec's own exceptions pass through") {
  auto bytes = sample_message();
  CHECK_THROWS_AS(bc::wire::decode<WireTestItem>(bytes, kLimits, [](WireTestItem::Reader) { throw std::invalid_argument("bad value"); }),
                  std::invalid_argument);
}

TEST_CASE("wire decode: random garbage never crashes and is mostly rejected") {
  bc::Rng rng(1234);
  int ok = 0, rejected = 0;
  for (int i = 0; i < 3000; ++i) {
    std::size_t words = 1 + rng.uniform(64);
    bc::Bytes junk(words * 8);
    rng.fill(junk);
    if (i % 2 == 0) {  // half with a valid single-segment table, to reach the reader
      put_le32(junk, 0, 0);
      put_le32(junk, 4, static_cast<std::uint32_t>(words - 1));
    }
    Seen s;
    auto err = read_all(junk, kLimits, s);
    (err == DecodeError::kOk ? ok : rejected)++;
  }
  CHECK(rejected > 1500);
  CHECK(ok + rejected == 3000);
}

TEST_CASE("canonical hash: equal values hash equal whatever the encoder layout") {
  // A: default builder. B: one-word segments, so the message is split into
  // many segments with far pointers, and fields set in another order.
  capnp::MallocMessageBuilder a;
  {
    auto r = a.initRoot<WireTestItem>();
    r.setId(5);
    r.setName("same");
    r.initChild().setId(6);
  }
  capnp::MallocMessageBuilder b(1, capnp::AllocationStrategy::FIXED_SIZE);
  {
    auto r = b.initRoot<WireTestItem>();
    r.initChild().setId(6);
    r.setName("same");
    r.setId(5);
  }
  CHECK(b.getSegmentsForOutput().size() > 1);
  CHECK(flatten(a) != flatten(b));
  auto ha = bc::wire::canonical_hash("blockcloud/test/v1", a);
  auto hb = bc::wire::canonical_hash("blockcloud/test/v1", b.getRoot<WireTestItem>().asReader());
  CHECK(ha == hb);
  CHECK(bc::wire::canonical_bytes(a.getRoot<WireTestItem>().asReader()) ==
        bc::wire::canonical_bytes(b.getRoot<WireTestItem>().asReader()));
  CHECK(ha == bc::tagged_hash("blockcloud/test/v1", bc::wire::canonical_bytes(a.getRoot<WireTestItem>().asReader())));

  // The tag separates domains; any field change changes the hash.
  CHECK(bc::wire::canonical_hash("blockcloud/other/v1", a) != ha);
  a.getRoot<WireTestItem>().getChild().setId(7);
  CHECK(bc::wire::canonical_hash("blockcloud/test/v1", a) != ha);

  // A decoded copy hashes like the builder it came from.
  auto bytes = flatten(b);
  bc::Hash256 decoded;
  CHECK(bc::wire::decode<WireTestItem>(bytes, kLimits, [&](WireTestItem::Reader r) {
          decoded = bc::wire::canonical_hash("blockcloud/test/v1", r);
        }) == DecodeError::kOk);
  CHECK(decoded == hb);
}

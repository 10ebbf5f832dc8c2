# DHT wire protocol: one Envelope per UDP datagram (docs/routing.md).
# Every field is checked by routing/messages.cpp before use: Data fields have
# exact lengths (ids/keys/cluster ids 32 bytes, pubkeys 32, signatures 64,
# IPs 16) and lists have upper bounds.
@0x8d62dfaac187f96f;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("bc::routing::wire");

using Rec = import "record.capnp";

struct Contact {
  id @0 :Data;        # 32-byte node id
  ip @1 :Data;        # 16 bytes, IPv4-mapped for IPv4
  port @2 :UInt16;
}

# needProof = false: the pinger verified the responder at this address
# already and only checks liveness; the PONG may then be unsigned.
struct Ping {
  nonce @0 :UInt64;
  needProof @1 :Bool = true;
}

# Answers a PING by echoing its fresh nonce (so the sender does receive at its
# address). When the PING asked for proof, it also carries the sender's
# address certificate: a BIP340 signature by the key behind senderId over
# tagged_hash("blockcloud/dht-addr-cert/v1", senderId || ip || port ||
# certExpiresAt), the address being the one this PONG comes from. One
# certificate serves every challenger until it nears expiry (docs/routing.md).
struct Pong {
  nonce @0 :UInt64;
  observedIp @1 :Data;    # the pinger's address as the responder saw it
  observedPort @2 :UInt16;
  signature @3 :Data;     # 64 bytes; empty only when the PING said needProof = false
  certExpiresAt @4 :Int64;  # ms since the Unix epoch; with signature
}

struct FindNode {
  target @0 :Data;
  level @1 :UInt8;
  clusterId @2 :Data;     # requester's cluster id at `level` (32 zero bytes at level 0)
}

struct Nodes {
  contacts @0 :List(Contact);
}

struct FindValue {
  key @0 :Data;
  level @1 :UInt8;
  clusterId @2 :Data;
  newTtlMs @3 :UInt64;    # TTL of the value the requester wants to store (fullness check); 0 for gets
  wantRecords @4 :Bool;   # false for the lookup phase of a put: records are not sent
  token @5 :Data;         # the token of an earlier VALUES from this node: proves our address
}

struct Values {
  records @0 :List(Rec.Record);
  contacts @1 :List(Contact);
  token @2 :Data;         # write token for a later STORE from this requester
  full @3 :Bool;
  loaded @4 :Bool;
  truncated @5 :Bool;     # more records exist than fitted in the datagram
  needToken @6 :Bool;     # cut to 3x the request (address not proven): ask again with `token`
}

struct Store {
  record @0 :Rec.Record;
  token @1 :Data;
  level @2 :UInt8;
}

# Store::put outcomes (routing/store.hpp) plus the checks before it.
enum AckOutcome {
  stored @0;
  replaced @1;
  duplicate @2;    # same owner and seq already held
  stale @3;        # older seq than the one held (replay)
  noRoom @4;
  expired @5;
  badRecord @6;    # check_record failed (signature, size, expiry bounds)
  badToken @7;
  rateLimited @8;
}

struct StoreAck {
  outcome @0 :AckOutcome;
}

struct Watch {
  key @0 :Data;
  subscriptionId @1 :UInt64;
  ttlMs @2 :UInt64;       # 0 cancels
}

struct WatchAck {
  subscriptionId @0 :UInt64;
  ttlMs @1 :UInt64;       # granted; 0 = refused
}

enum NotifyKind {
  added @0;
  expired @1;
}

struct Notify {
  key @0 :Data;
  subscriptionId @1 :UInt64;
  kind @2 :NotifyKind;
  record @3 :Rec.Record;
}

enum ErrorCode {
  unknown @0;
  rateLimited @1;
  badRequest @2;
  wrongVersion @3;
}

struct Error {
  code @0 :ErrorCode;
}

struct Envelope {
  version @0 :UInt16;
  senderId @1 :Data;      # must equal SHA-256(senderKey)
  senderKey @2 :Data;     # x-only public key
  txid @3 :UInt64;        # requests: fresh random; responses: echo of the request's
  cluster1 @4 :Data;      # sender's cluster ids at levels 1 and 2 (32 bytes each)
  cluster2 @5 :Data;
  size1 @6 :UInt32;       # sender's cluster size estimates
  size2 @7 :UInt32;
  readOnly @20 :Bool;     # BEP 43: the sender only asks (a short-lived client); keep it out of routing tables
  body :union {
    ping @8 :Ping;
    pong @9 :Pong;
    findNode @10 :FindNode;
    nodes @11 :Nodes;
    findValue @12 :FindValue;
    values @13 :Values;
    store @14 :Store;
    storeAck @15 :StoreAck;
    watch @16 :Watch;
    watchAck @17 :WatchAck;
    notify @18 :Notify;
    error @19 :Error;
  }
}

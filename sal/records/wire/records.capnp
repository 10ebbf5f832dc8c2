# SAL records carried in the DSHT (docs/sal-records.md, sal/records/endpoint_record.hpp).
#
# The DHT value under a service ID is a routing::Record whose payload is one
# SalPayload: an endpoint record (DHT record owner = provider node key) or an
# owner statement (DHT record owner = service owner key). Every field is
# checked by sal/records/endpoint_record.cpp before use: keys 32 bytes, signatures 64,
# IPs 16, cluster ids 32, names 1..63 chars of [a-z0-9-], lists bounded.
@0x9acc323a02f99ddb;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("bc::sal::wire");

# The owner's statement "providerKey may serve <ownerKey, name> from notBefore
# until expiresAt". Signed by ownerKey (BIP340) over
# tagged_hash("blockcloud/sal-delegation/v1", canonical form with signature null).
struct Delegation {
  ownerKey @0 :Data;      # 32-byte x-only key of the service owner
  name @1 :Text;          # service name; service id = H(ownerKey || name)
  providerKey @2 :Data;   # 32-byte x-only node key of the provider
  serial @3 :UInt64;      # an owner statement revokes serials below its minSerial
  notBefore @4 :Int64;    # ms, driver clock
  expiresAt @5 :Int64;    # ms, driver clock
  signature @6 :Data;     # 64 bytes
}

# The owner's revocation list for one service. The highest seq wins. Signed
# by ownerKey over tagged_hash("blockcloud/sal-owner-statement/v1", ...).
struct OwnerStatement {
  ownerKey @0 :Data;
  name @1 :Text;
  seq @2 :UInt64;
  minSerial @3 :UInt64;            # delegations with serial < minSerial are revoked
  revokedProviders @4 :List(Data); # at most 16 x-only keys, revoked whatever the serial
  signature @5 :Data;
}

struct Address {
  ip @0 :Data;            # 16 bytes, IPv4-mapped for IPv4
  port @1 :UInt16;
}

struct ClusterHint {
  level @0 :UInt8;        # 1 or 2 (Coral cluster level; level 0 is global)
  id @1 :Data;            # 32-byte cluster id (routing::DhtStatus::cluster_ids)
}

# A provider's endpoints for one service. No addresses = withdrawn (stop()).
struct EndpointInfo {
  addresses @0 :List(Address);      # at most 8
  weight @1 :UInt16;
  clusterHints @2 :List(ClusterHint); # at most 2
  delegation @3 :Delegation;
}

struct SalPayload {
  union {
    endpoint @0 :EndpointInfo;
    statement @1 :OwnerStatement;
  }
}

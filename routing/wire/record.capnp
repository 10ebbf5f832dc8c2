# A signed DHT value (routing/record.hpp). Imported by routing/wire/dht.capnp.
#
# The owner signs tagged_hash("blockcloud/dht-record/v1", canonical form of
# this struct with `signature` left null); see routing/record.cpp.
@0xd541da10eca4e938;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("bc::routing::wire");

struct Record {
  key @0 :Data;        # 32 bytes: the DHT key
  owner @1 :Data;      # 32 bytes: x-only secp256k1 public key of the signer
  seq @2 :UInt64;      # only a higher seq from the same owner replaces a record
  expiresAt @3 :Int64; # absolute expiry, milliseconds on the driver's clock
  payload @4 :Data;    # at most kMaxPayloadBytes (1024)
  signature @5 :Data;  # 64 bytes: BIP340 Schnorr over the digest above
}

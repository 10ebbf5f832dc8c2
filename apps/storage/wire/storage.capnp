# Storage wire formats (docs/storage.md): provider requests and responses, and
# the file manifest. Every decoder is bounded (apps/storage/messages.cpp,
# apps/storage/manifest.cpp).
@0xccd96597be1bb64b;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("bc::storage::wire");

struct PutShard {
  shardId @0 :Data;          # 32 bytes: the shard's Merkle root
  data @1 :Data;             # 1..kMaxShardBytes
  deleteTokenHash @2 :Data;  # 32 bytes: SHA-256 of the owner's delete token
  expiresAt @3 :UInt64;      # ms on the provider's clock; must be in the future
  escrowId @4 :Data;         # empty: the put names no escrow (see docs/storage.md "Unpaid objects")
                             # or 32 bytes: the escrow that pays this provider for it
}

struct GetRange {
  shardId @0 :Data;
  offset @1 :UInt32;
  length @2 :UInt32;         # 1..kMaxShardBytes
}

struct DeleteShard {
  shardId @0 :Data;
  deleteToken @1 :Data;      # 32 bytes
}

struct AuditChallenge {
  shardId @0 :Data;
  seed @1 :Data;             # 32 bytes
}

# A usage receipt for the provider's escrow (docs/storage.md "Payment"):
# the client's signature over ledger receipt_digest(chainId, escrowId,
# cumulative); the provider claims with the latest one (EscrowClaim).
struct Receipt {
  escrowId @0 :Data;         # 32 bytes
  cumulative @1 :UInt64;     # everything paid so far, base units; > 0
  signature @2 :Data;        # 64 bytes (BIP340), checked by the ledger on claim
}

# A page of the chunk list a storage offer commits to (docs/proof-of-service.md
# "Storage offers and the storage probe"): entries [first, first + count).
struct ChunkList {
  storageRoot @0 :Data;      # 32 bytes: the offer's storageRoot
  first @1 :UInt64;
  count @2 :UInt32;          # 1..kMaxChunksPerPage
}

struct Request {
  requestId @0 :UInt64;
  union {
    put @1 :PutShard;
    get @2 :GetRange;
    delete @3 :DeleteShard;
    audit @4 :AuditChallenge;
    receipt @5 :Receipt;
    chunkList @6 :ChunkList;
  }
}

struct AuditProof {
  leafIndex @0 :UInt64;
  leaf @1 :Data;             # 1..leafSize bytes
  path @2 :List(Data);       # sibling hashes from the leaves up, 32 bytes each
  shardSize @3 :UInt64;
  signature @4 :Data;        # 64 bytes: the provider's answer key over pos storage_answer_digest
                             # (ledger/pos/codec.hpp), or empty from a provider that signs none
}

struct ChunkPage {
  total @0 :UInt64;          # entries in the whole list
  shardIds @1 :Data;         # 32 bytes per entry, at most kMaxChunksPerPage entries
}

struct Failure {
  code @0 :UInt16;           # storage::Error
  reason @1 :Text;           # <= 256 bytes, for people
}

struct Response {
  requestId @0 :UInt64;
  union {
    stored @1 :UInt64;       # size of the stored shard
    data @2 :Data;
    deleted @3 :Void;
    proof @4 :AuditProof;
    failure @5 :Failure;
    receiptTaken @6 :UInt64; # the receipt's cumulative amount, queued for a claim
    chunks @7 :ChunkPage;
  }
}

struct Manifest {
  version @0 :UInt8;
  fileSize @1 :UInt64;
  segmentSize @2 :UInt32;
  dataShards @3 :UInt8;
  parityShards @4 :UInt8;
  leafSize @5 :UInt32;
  fileSalt @6 :Data;         # 32 bytes
  shardRoots @7 :Data;       # segments x (k+m) x 32 bytes, segment-major
  name @8 :Text;             # <= 255 bytes
}

# Messages of Proof-of-Service (docs/proof-of-service.md, "Messages").
#
# Offer, Report and StorageAnswer are signed: BIP340 Schnorr over
# tagged_hash(tag, canonical form with the signature null), tags
# "blockcloud/pos-offer/v1", "blockcloud/pos-report/v1" and
# "blockcloud/storage-answer/v1".
@0xe7b2c4f1a9d03857;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("bc::pos::wire");

enum ServiceKind {
  unset @0;
  generic @1;
  storage @2;
}

enum ProbeOutcome {
  unset @0;
  pass @1;
  slow @2;
  timeout @3;
  wrong @4;
}

struct Offer {
  serviceId @0 :Data;            # 32 bytes
  owner @1 :Data;                # 32 bytes: x-only key of the service owner (signs the offer)
  provider @2 :Data;             # 32 bytes: the provider key (signs storage responses)
  kind @3 :ServiceKind;
  probeRequest @4 :Data;
  expectedResponseHash @5 :Data; # 32 bytes
  storageRoot @6 :Data;          # 32 bytes (zero for generic)
  storageChunks @7 :UInt64;
  deltaBps @8 :UInt32;
  maxLatencyMs @9 :UInt32;
  minThroughputBps @10 :UInt64;
  price @11 :UInt64;
  bond @12 :UInt64;
  nonce @13 :UInt64;
  signature @14 :Data;           # 64 bytes
}

struct ProbeRecord {
  index @0 :UInt32;
  scheduledMs @1 :UInt64;
  attempts @2 :UInt8;
  outcome @3 :ProbeOutcome;
  connectMs @4 :UInt32;
  ttfbMs @5 :UInt32;
  throughputBps @6 :UInt64;
  responseHash @7 :Data;         # 32 bytes
}

struct StorageAnswer {
  shard @0 :Data;                # 32 bytes: the shard root asked about
  seed @1 :Data;                 # 32 bytes: the challenge
  leafIndex @2 :UInt64;
  leaf @3 :Data;                 # at most the leaf size
  path @4 :List(Data);           # 32 bytes each
  shardSize @5 :UInt64;
  providerSignature @6 :Data;    # 64 bytes
}

struct StorageEvidence {
  offerId @0 :Data;              # 32 bytes
  probeIndex @1 :UInt32;
  chunk @2 :UInt64;              # the answer's shard is this entry of the offer's chunk list
  chunkPath @3 :List(Data);      # 32 bytes each: its path to the offer's storageRoot
  answer @4 :StorageAnswer;
}

struct Report {
  epoch @0 :UInt64;
  offerId @1 :Data;              # 32 bytes
  auditor @2 :Data;              # 32 bytes
  secret @3 :Data;               # 32 bytes: the probe secret, revealed
  probes @4 :List(ProbeRecord);
  evidence @5 :List(StorageEvidence);
  signature @6 :Data;            # 64 bytes
}

struct Message {
  union {
    unset @0 :Void;
    offer @1 :Offer;
    report @2 :Report;
  }
}

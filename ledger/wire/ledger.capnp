# Ledger wire formats: transactions and blocks (ledger/tx.hpp, ledger/block.hpp).
#
# A transaction is a SignedTx whose `body` holds the Cap'n Proto canonical
# form (capnp::canonicalize: one segment, no segment table) of a TxBody. The
# sender signs tagged_hash("blockcloud/tx/v1", body) with BIP340; decoders
# refuse a body that is not canonical, so one transaction has exactly one
# digest and the signature needs no re-encoding to check.
@0xe0a4d2b7c36f1a95;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("bc::ledger::wire");

struct Transfer {
  to @0 :Data;        # 32-byte account address
  amount @1 :UInt64;  # base units, > 0
}

struct Bond {
  amount @0 :UInt64;  # balance -> bonded stake
}

struct Unbond {
  amount @0 :UInt64;  # bonded -> balance after the unbonding delay
}

struct RegisterService {
  name @0 :Text;      # service ID = tagged_hash("blockcloud/service-id/v1", owner || name)
}

struct EscrowOpen {
  provider @0 :Data;   # 32-byte account address of the provider
  amount @1 :UInt64;   # locked from the client's balance
  expiresAt @2 :UInt64;# block height from which the client may close and take back the rest
}

struct EscrowTopUp {
  escrowId @0 :Data;   # 32 bytes
  amount @1 :UInt64;
  expiresAt @2 :UInt64;# 0 keeps the expiry; otherwise a later height
}

# Signed by the escrow's client: "the provider has earned cumulativeAmount".
# Digest: tagged_hash("blockcloud/usage-receipt/v1", chainId || escrowId || cumulativeAmount).
struct UsageReceipt {
  escrowId @0 :Data;
  cumulativeAmount @1 :UInt64;
  signature @2 :Data;  # 64 bytes
}

struct EscrowClaim {
  escrowId @0 :Data;
  receipts @1 :List(UsageReceipt);  # cumulative amounts strictly increasing; the last one pays
}

struct EscrowClose {
  escrowId @0 :Data;
}

struct TxBody {
  chainId @0 :Text;    # replay protection across networks
  sender @1 :Data;     # 32-byte x-only secp256k1 public key
  nonce @2 :UInt64;    # equals the sender account's nonce
  fee @3 :UInt64;      # paid to the block's proposer
  union {
    transfer @4 :Transfer;
    bond @5 :Bond;
    unbond @6 :Unbond;
    registerService @7 :RegisterService;
    escrowOpen @8 :EscrowOpen;
    escrowTopUp @9 :EscrowTopUp;
    escrowClaim @10 :EscrowClaim;
    escrowClose @11 :EscrowClose;
  }
}

struct SignedTx {
  body @0 :Data;       # canonical TxBody words
  signature @1 :Data;  # 64 bytes
}

# Outputs of consensus rules (never user transactions).
struct Effect {
  kind @0 :Kind;
  account @1 :Data;    # 32-byte address
  amount @2 :UInt64;
  reason @3 :Data;     # 32 bytes: what justifies it (audit result, evidence hash)
  enum Kind {
    reward @0;         # minted to the account's balance
    slash @1;          # burned from the account's bonded stake
  }
}

struct BlockHeader {
  chainId @0 :Text;
  height @1 :UInt64;
  prevHash @2 :Data;    # hash of the parent header
  time @3 :Int64;       # ms since the Unix epoch, >= the parent's
  proposer @4 :Data;    # 32-byte x-only public key
  txRoot @5 :Data;      # Merkle root of tx IDs
  stateRoot @6 :Data;   # sparse Merkle root of the state after this block
  auditRoot @7 :Data;   # reserved for Proof-of-Service audit results
  effectsRoot @8 :Data; # Merkle root of the consensus effects
  txCount @9 :UInt32;
}

struct Block {
  header @0 :BlockHeader;
  txs @1 :List(SignedTx);
  effects @2 :List(Effect);
  signature @3 :Data;   # proposer's BIP340 signature over the header hash
}

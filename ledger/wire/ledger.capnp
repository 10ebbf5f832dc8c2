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
  amount @0 :UInt64;     # balance -> bonded stake
  consensusKey @1 :Data; # empty, or 32 bytes: registers the sender as a validator with this vote key
  keyProof @2 :Data;     # with a key: its BIP340 signature over
                         # tagged_hash("blockcloud/consensus-key/v1", chainId || sender address)
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
  rootsCommitment @3 :Data;  # empty, or 32 bytes (not all zero): what the escrow pays for, e.g. a storage
                             # provider's shard roots (docs/storage.md "Payment")
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

struct Unjail {}       # a jailed (not banned) validator asks to rejoin the set

# Proof-of-Service (docs/proof-of-service.md, "Ledger rules").
struct PosOffer {
  offer @0 :Data;      # a pos Offer frame (ledger/pos/wire/pos.capnp Message), signed by its owner
}

struct PosWithdraw {
  offerId @0 :Data;    # 32 bytes: the bond goes to an unbonding entry, released after the unbonding delay
}

struct PosCommit {
  epoch @0 :UInt64;           # the epoch committed for; sent by epoch - 2
  probeCommitment @1 :Data;   # 32 bytes: pos probe_commitment(secret, consensus key, epoch)
  seedCommit @2 :Data;        # 32 bytes: pos seed_commitment(r, consensus key, epoch)
}

struct PosReveal {
  epoch @0 :UInt64;           # sent in epoch - 1
  r @1 :Data;                 # 32 bytes: the seed reveal committed to
}

struct PosReport {
  report @0 :Data;     # a pos Report frame (ledger/pos/wire/pos.capnp Message), signed by its auditor
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
    unjail @12 :Unjail;
    posOffer @13 :PosOffer;
    posWithdraw @14 :PosWithdraw;
    posCommit @15 :PosCommit;
    posReport @16 :PosReport;
    posReveal @17 :PosReveal;
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
    feeShare @2;       # credited from the block's fees
    slashUnbonding @3; # burned from the unbonding entry whose id is `account`
    jail @4;           # validator jailed (amount 0)
    ban @5;            # validator banned for good (amount 0)
    burnOfferBond @6;  # burned from the bond of the offer whose id is `account`
    offerBan @7;       # that offer banned for good (amount 0)
    offerWarning @8;   # that offer warned by its settlement (amount 0)
    usagePay @9;       # from the held usage entry `account` to its provider
    usageRefund @10;   # from the held usage entry `account` back to its client
  }
}

# The signing form of a committee vote: field for field the `Vote` of
# consensus/bft/wire/bft.capnp (same ordinals and widths, so the same
# canonical bytes), which the ledger cannot import. Signed as
# tagged_hash("blockcloud/bft-vote/v1", canonical form with signature null).
struct VoteSignBytes {
  chainId @0 :Data;     # 32 bytes: the genesis hash
  type @1 :UInt16;      # 1 prevote, 2 precommit (bft VoteType)
  height @2 :UInt64;
  round @3 :UInt32;
  valueHash @4 :Data;   # 32 bytes, or empty for nil
  validator @5 :Data;   # 32-byte consensus key
  signature @6 :Data;   # 64 bytes (null while hashing)
}

struct CommitSig {
  validator @0 :Data;   # 32-byte consensus key of a member of the set
  signature @1 :Data;   # its precommit for (height, round, blockHash)
}

# +2/3 of the power of the set of `height` precommitted `blockHash`.
struct CommitCertificate {
  height @0 :UInt64;
  round @1 :UInt32;
  blockHash @2 :Data;
  precommits @3 :List(CommitSig);
}

# Two votes of one validator at one (height, round, type) for different values.
struct DuplicateVoteEvidence {
  voteA @0 :VoteSignBytes;
  voteB @1 :VoteSignBytes;
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
  lastCommitHash @10 :Data; # certified chains: certificate_hash(lastCommit); null otherwise
}

struct Block {
  header @0 :BlockHeader;
  txs @1 :List(SignedTx);
  effects @2 :List(Effect);
  signature @3 :Data;   # proposer's BIP340 signature over the header hash
  lastCommit @4 :CommitCertificate;        # the parent's certificate (certified chains)
  evidence @5 :List(DuplicateVoteEvidence);
}

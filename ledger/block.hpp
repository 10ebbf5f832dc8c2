// Blocks: header, body (signed transactions and consensus effects), hashing,
// bounded decoding. Block hash = tagged_hash("blockcloud/block-header/v1",
// canonical header); the proposer signs it.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"
#include "layers/runtime.hpp"
#include "ledger/apply.hpp"
#include "ledger/certificate.hpp"
#include "ledger/error.hpp"
#include "ledger/tx.hpp"
#include "ledger/types.hpp"

namespace bc::ledger {

struct BlockHeader {
  std::string chain_id;
  std::uint64_t height = 0;
  Hash256 prev_hash;
  TimeMs time = 0;
  XOnlyPubKey proposer;
  Hash256 tx_root;
  Hash256 state_root;
  Hash256 audit_root;  // audit_root(txs): the block's Proof-of-Service reports
  Hash256 effects_root;
  std::uint32_t tx_count = 0;
  // Certified chains: certificate_hash of the block's last_commit. Unset
  // otherwise, and then the header hashes as it did before the field existed.
  std::optional<Hash256> last_commit_hash;
  friend bool operator==(const BlockHeader&, const BlockHeader&) = default;
};

// A transaction as carried in a block before its body is decoded.
struct RawTx {
  ByteView body;  // points into the block's bytes
  Signature signature;
  std::size_t wire_size = 0;
};

struct Block {
  BlockHeader header;
  std::vector<Tx> txs;
  std::vector<Effect> effects;
  Signature signature;
  std::optional<CommitCertificate> last_commit;  // the parent's certificate (certified chains)
  std::vector<DuplicateVoteEvidence> evidence;   // at most kMaxBlockEvidence
};

Hash256 header_hash(const BlockHeader& h);
// Binary Merkle tree, tagged leaves and nodes; an odd node is carried up
// unhashed (no duplication, so two lists never share a root); empty -> zero.
Hash256 merkle_root(std::vector<Hash256> leaves);
Hash256 tx_root(const std::vector<Tx>& txs);
Hash256 effects_root(const std::vector<Effect>& effects);
// The Merkle root (as tx_root) of pos::report_digest of each posReport of
// `txs`, in block order (all zero for a block without one), so a header
// commits to the audit results it carries (docs/proof-of-service.md).
Hash256 audit_root(const std::vector<Tx>& txs);
void sign_block(Block& b, const KeyPair& proposer);

Bytes encode_block(const Block& b);

// First stage of decoding: header, effects, block signature and the raw
// transactions (bodies still undecoded, pointing into `data`, which must
// outlive the result). Bounded by params (bytes, txs, effects).
struct BlockShell {
  BlockHeader header;
  std::vector<RawTx> raw_txs;
  std::vector<Effect> effects;
  Signature signature;
  std::optional<CommitCertificate> last_commit;
  std::vector<DuplicateVoteEvidence> evidence;
  std::size_t size = 0;
  // Keeps an aligned copy when the input was misaligned.
  std::shared_ptr<void> storage;
};
Result<BlockShell> decode_block_shell(ByteView data, const ChainParams& params);
// Whole decode, sequential (for tests, fuzzing and tools; the ledger decodes
// bodies in parallel).
Result<Block> decode_block(ByteView data, const ChainParams& params);

}  // namespace bc::ledger

#include "apps/storage/merkle.hpp"

namespace bc::storage {

Status verify_proof(const Hash256& root, const MerkleProof& proof, std::uint32_t leaf_size) {
  if (const char* why = merkle::proof_mismatch(root, proof, leaf_size)) return fail(Error::kBadProof, why);
  return Status::success();
}

}  // namespace bc::storage

#include "ledger/pos/storage_proof.hpp"

#include "ledger/pos/codec.hpp"
#include "layers/merkle.hpp"

namespace bc::pos {

const char* storage_answer_mismatch(const StorageAnswer& a) {
  if (const char* why = merkle::proof_mismatch(a.shard, a.proof, kStorageLeafSize)) return why;
  if (a.proof.leaf_index != merkle::challenge_leaf(a.seed, a.shard, a.proof.shard_size, kStorageLeafSize))
    return "not the leaf the challenge asks for";
  return nullptr;
}

bool proves_storage_malice(const Offer& o, const StorageEvidence& e) {
  if (o.kind != ServiceKind::kStorage || e.offer_id != offer_id(o)) return false;
  if (!merkle::list_path_leads_to(o.storage_root, o.storage_chunks, e.chunk, e.answer.shard, e.chunk_path)) return false;
  if (storage_answer_mismatch(e.answer) == nullptr) return false;
  return verify_storage_answer(e.answer, o.provider);
}

}  // namespace bc::pos

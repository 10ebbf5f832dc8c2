// The storage probe's rule (docs/proof-of-service.md "Storage probe"): when a
// provider's signed audit answer is right, and when it proves malice. The
// auditor grades with it and settlement judges evidence with it, so both
// reach the same verdict from the same bytes.
#pragma once
#include <cstdint>

#include "ledger/pos/types.hpp"

namespace bc::pos {

// nullptr when `a` answers its own challenge correctly: its proof leads to
// a.shard and proves the leaf a.seed asks for; otherwise why not. Says
// nothing about the signature.
const char* storage_answer_mismatch(const StorageAnswer& a);

// True when `e` proves that offer `o`'s provider served wrong data: the
// answer is signed by o.provider, its shard is entry e.chunk of o's chunk
// list (e.chunk_path leads to o.storage_root), and the answer is wrong
// (storage_answer_mismatch). An auditor cannot forge it: only the provider
// signs answers, and an honest provider signs only answers it checked.
bool proves_storage_malice(const Offer& o, const StorageEvidence& e);

}  // namespace bc::pos

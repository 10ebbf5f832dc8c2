// The values and messages of Proof-of-Service (docs/proof-of-service.md,
// "Messages" and "Parameters"). Plain structs; ledger/pos/codec.hpp turns
// them into bytes, digests and signatures.
#pragma once
#include <cstdint>
#include <variant>
#include <vector>

#include "layers/bytes.hpp"
#include "layers/crypto.hpp"
#include "layers/merkle.hpp"

namespace bc::pos {

inline constexpr std::uint32_t kBps = 10000;
// Leaf size of every storage shard tree (apps/storage's kLeafSize).
inline constexpr std::uint32_t kStorageLeafSize = 1024;
// A storage offer commits to at most this many chunks (its list is 2 MiB,
// which an auditor fetches once per offer); more shards take more offers.
inline constexpr std::uint64_t kMaxOfferChunks = 65536;

struct PosParams {
  std::uint32_t auditors_per_offer = 3;  // k
  std::uint32_t probes_per_auditor = 16;  // c
  std::uint32_t max_attempts = 3;
  std::uint64_t retry_gap_ms = 2000;
  std::uint64_t epoch_ms = 3'600'000;
  std::uint32_t min_reports = 2;
  std::uint32_t reputation_lambda_bps = 8750;
  std::uint32_t unstable_rate_bps = 1000;
  std::uint32_t agree_tolerance_bps = 1000;
  std::uint64_t report_fee = 100;  // minted per report that agrees with the median
  std::uint32_t holdback_bps = 5000;    // part of a new provider's pay deferred ...
  std::uint64_t holdback_epochs = 24;   // ... by this many epochs (0: no hold-back)
  friend bool operator==(const PosParams&, const PosParams&) = default;
};

enum class ServiceKind : std::uint8_t { kGeneric = 1, kStorage = 2 };
enum class ProbeOutcome : std::uint8_t { kPass = 1, kSlow = 2, kTimeout = 3, kWrong = 4 };

struct Offer {
  Hash256 service_id;
  XOnlyPubKey owner;
  XOnlyPubKey provider;
  ServiceKind kind = ServiceKind::kGeneric;
  Bytes probe_request;
  Hash256 expected_response_hash;
  Hash256 storage_root;
  std::uint64_t storage_chunks = 0;
  std::uint32_t delta_bps = 9500;
  std::uint32_t max_latency_ms = 0;
  std::uint64_t min_throughput_bps = 0;
  std::uint64_t price = 0;
  std::uint64_t bond = 0;
  std::uint64_t nonce = 0;
  Signature signature;
  friend bool operator==(const Offer&, const Offer&) = default;
};

struct ProbeRecord {
  std::uint32_t index = 0;
  std::uint64_t scheduled_ms = 0;
  std::uint8_t attempts = 1;
  ProbeOutcome outcome = ProbeOutcome::kPass;
  std::uint32_t connect_ms = 0;
  std::uint32_t ttfb_ms = 0;
  std::uint64_t throughput_bps = 0;
  Hash256 response_hash;
  friend bool operator==(const ProbeRecord&, const ProbeRecord&) = default;
};

// A provider's answer to one audit challenge of one shard, signed with its
// provider key: what every client's audit request gets back (apps/storage
// "audit"), so a probe reads exactly like a client's check. The provider
// signs only answers that lead to `shard` (it checks before signing), so a
// signed answer that does not is proof it served wrong data.
struct StorageAnswer {
  Hash256 shard;                 // the shard root asked about
  Hash256 seed;                  // the challenge: which leaf (merkle::challenge_leaf)
  merkle::Proof proof;
  Signature provider_signature;  // tag "blockcloud/storage-answer/v1"
  friend bool operator==(const StorageAnswer&, const StorageAnswer&) = default;
};

// A storage probe's signed answer that proves malice, with where its shard
// sits in the offer: answer.shard is entry `chunk` of the offer's chunk list
// (root storage_root, storage_chunks entries), as chunk_path shows.
struct StorageEvidence {
  Hash256 offer_id;
  std::uint32_t probe_index = 0;
  std::uint64_t chunk = 0;
  std::vector<Hash256> chunk_path;
  StorageAnswer answer;
  friend bool operator==(const StorageEvidence&, const StorageEvidence&) = default;
};

struct Report {
  std::uint64_t epoch = 0;
  Hash256 offer_id;
  XOnlyPubKey auditor;
  Hash256 secret;
  std::vector<ProbeRecord> probes;
  std::vector<StorageEvidence> evidence;
  Signature signature;
  friend bool operator==(const Report&, const Report&) = default;
};

// Two validly signed, different reports of one auditor for one (epoch, offer).
struct ReportEvidence {
  Report a;
  Report b;
};

using Message = std::variant<Offer, Report>;

}  // namespace bc::pos

// The ledger's Proof-of-Service epoch rules (docs/proof-of-service.md,
// "Ledger rules"): the ids of the PoS entries, which offers an epoch audits,
// the epoch seed and the auditor draw. Every node derives the same values
// from the same state.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ledger/apply.hpp"
#include "ledger/pos/types.hpp"
#include "ledger/state.hpp"
#include "ledger/types.hpp"

namespace bc::ledger {

// A commitment may be sent at most this many epochs ahead of its epoch's
// earliest window (epoch <= epoch_of(height) + 2 + kPosCommitLead).
inline constexpr std::uint64_t kPosCommitLead = 8;

// The PoS parameters of the chain: ChainParams::pos with epoch_ms =
// epoch_length * block_interval_ms, the epoch's nominal span (the time base
// of the probe schedule).
pos::PosParams pos_params(const ChainParams& p);
// Bounds of ChainParams::pos (the genesis and the stored params are checked).
inline constexpr std::uint32_t kMaxAuditorsPerOffer = 16;
inline constexpr std::uint64_t kMaxHoldbackEpochs = 1000;
// "" when `p` is within its bounds, else which field is not and its range.
std::string check_pos_params(const pos::PosParams& p);
// The chain-level PoS parameters as numbers in one fixed order, named
// "pos_" + the PosParams field in the genesis (kPosParamKeys[i] names
// value i); the stored params carry them in this order.
inline constexpr std::size_t kPosParamCount = 11;
extern const std::array<const char*, kPosParamCount> kPosParamKeys;
std::array<std::uint64_t, kPosParamCount> pos_param_values(const pos::PosParams& p);
// False, with p unchanged, when a value does not fit its field; the caller
// checks the whole with check_pos_params.
bool set_pos_param_values(const std::array<std::uint64_t, kPosParamCount>& v, pos::PosParams& p);
// tagged_hash("blockcloud/pos-commit-id/v1", auditor || epoch).
Hash256 pos_commit_id(const XOnlyPubKey& auditor, std::uint64_t epoch);
// tagged_hash("blockcloud/pos-report-id/v1", epoch || offer_id || auditor).
Hash256 pos_report_id(std::uint64_t epoch, const Hash256& offer_id, const XOnlyPubKey& auditor);
// The reason of the penalty for contradicting reports: tagged_hash(
// "blockcloud/pos-report-evidence/v1", the two report digests in order).
Hash256 report_evidence_hash(const pos::ReportEvidence& e);
// The first height of `epoch`: epoch * epoch_length + 1 (epoch_of's inverse).
std::uint64_t first_height_of(std::uint64_t epoch, const ChainParams& p);
// The offers `epoch` audits: registered before its first height and not
// withdrawn or banned before it.
bool active_at_start(const ProviderOffer& o, std::uint64_t epoch, const ChainParams& p);

// At the start of block `height`, before its transactions: the first block
// of epoch e writes seed_e (entry 'd'):
//   e == 0: prev_hash, the genesis hash;
//   else    derive_seed(seed_{e-1}, e, the reveals of committee(e)'s members
//           for e); a chain without seed_{e-1} chains prev_hash instead.
void begin_pos_block(WorkingState& ws, std::uint64_t height, const Hash256& prev_hash);

// The auditor draw of `epoch`: assign_auditors(seed_epoch, the offers active
// at its start, committee(epoch) as {consensus key, address, power},
// auditors_per_offer), cached in `ws`. Null while the epoch has no seed.
WorkingState::AssignmentDraw assignments_of(const WorkingState& ws, std::uint64_t epoch);

// ---- Settlement on the ledger (docs/proof-of-service.md) ----------------------
// The reason a settlement effect carries: tagged_hash("blockcloud/pos-settle/v1",
// id || be64(epoch) || what), `what` a grade name (pos::to_string(Grade)) with
// the offer's id, "report-fee" with zero, or "usage" with the provider account.
Hash256 pos_settle_reason(std::string_view what, const Hash256& id, std::uint64_t epoch);
// tagged_hash("blockcloud/pos-usage-id/v1", epoch || provider || escrow_id).
Hash256 pos_usage_id(std::uint64_t epoch, const Address& provider, const Hash256& escrow_id);

// tagged_hash("blockcloud/pos-deferred-usage-id/v1", usage_id): where
// kUsageDefer moves the held-back part of the held entry usage_id.
Hash256 pos_deferred_usage_id(const Hash256& usage_id);

// An escrow claim of `pay` in block `height`: held in a PosUsage entry (true)
// when the escrow's provider account has an offer with auditors drawn for
// epoch_of(height); otherwise (false) nothing is written and the caller pays
// at once. The pay has already left the escrow.
bool hold_usage(WorkingState& ws, const Escrow& escrow, const Hash256& escrow_id, Amount pay, std::uint64_t height);

// Applies one of the settlement's effect kinds (kBurnOfferBond, kOfferBan,
// kOfferWarning, kUsagePay, kUsageRefund, kUsageDefer); checks before it writes. Burned
// amounts are added to *supply, which the caller stores.
Status apply_pos_effect(WorkingState& ws, const Effect& e, std::uint64_t height, Supply* supply);

// The most settlement effects one block carries: a quarter of
// max_block_effects (the rest is for penalties and the consensus effects),
// at most kSettleEffectsPerBlock, at least 16 (an offer costs 2 + k).
inline constexpr std::size_t kSettleEffectsPerBlock = 256;
std::size_t settle_effects_per_block(const ChainParams& p);

// After the block's transactions, on every chain: the penalties of the
// contradictions its posReports proved (ws.pos_offences()), then the
// settlement of epoch E from the first block of epoch E + 2 (E >= 0), in
// slices of at most settle_effects_per_block effects per block, epochs in
// order, the unfinished one kept in ws.pos_settling(). Applies each effect
// as it derives it and returns them in order: the block's effects list
// starts with exactly these. Fails only on a broken invariant (kBadEffect,
// kOverflow), with ws partly written.
Result<std::vector<Effect>> pos_block_effects(WorkingState& ws, std::uint64_t height);

}  // namespace bc::ledger

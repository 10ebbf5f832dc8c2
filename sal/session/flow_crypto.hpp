// Key material of a resumable flow (docs/sal-flows.md, "The resume proof").
//
// flow secret = HKDF-SHA256(ikm = channel binding of the TLS connection the
//               flow was opened on, salt = none,
//               info = "blockcloud/sal/flow/v1" || opener id || acceptor id)
// RESUME proof    = HMAC-SHA256(flow secret, new binding || opener id || acceptor id)
// RESUME_OK proof = HMAC-SHA256(flow secret, new binding || opener id || acceptor id || "ok")
// The binding is a TLS exporter value: secret to the two ends of one
// connection and different for every connection, so a proof is never
// computable by a third party and never valid on another connection.
#pragma once
#include <array>
#include <cstdint>

#include "layers/bytes.hpp"
#include "sal/session/frames.hpp"

namespace bc::sal {

using FlowSecret = std::array<std::uint8_t, 32>;
using ResumeProof = std::array<std::uint8_t, kResumeProofBytes>;

enum class ProofRole : std::uint8_t { kResume, kResumeOk };

FlowSecret derive_flow_secret(ByteView open_binding, FlowId opener, FlowId acceptor);
ResumeProof resume_proof(const FlowSecret& secret, ByteView new_binding, FlowId opener,
                         FlowId acceptor, ProofRole role);
// Constant-time comparison of a received proof with the expected one.
bool proof_equal(const ResumeProof& expected, ByteView received);

}  // namespace bc::sal

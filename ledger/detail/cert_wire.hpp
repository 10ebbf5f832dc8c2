// Certificates and evidence <-> their Cap'n Proto structs, for block.cpp and
// certificate.cpp. Private to ledger/. Readers return false on a wrong field
// size or a list over its bound; kj exceptions are the caller's to catch.
#pragma once
#include "ledger/certificate.hpp"
#include "ledger/wire/ledger.capnp.h"

namespace bc::ledger::detail {

void write_vote_record(const Hash256& chain, const VoteRecord& v, bool with_signature, wire::VoteSignBytes::Builder out);
void write_certificate(const CommitCertificate& c, wire::CommitCertificate::Builder out);
void write_evidence(const DuplicateVoteEvidence& e, wire::DuplicateVoteEvidence::Builder out);
bool read_certificate(wire::CommitCertificate::Reader in, CommitCertificate& out);
bool read_evidence(wire::DuplicateVoteEvidence::Reader in, DuplicateVoteEvidence& out);

}  // namespace bc::ledger::detail

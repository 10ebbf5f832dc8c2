#include "apps/daemon/test_faults.hpp"

#include <algorithm>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "layers/config.hpp"

namespace bc::apps {
namespace {
constexpr const char* kFavourValidators = "favour-validators";

std::vector<Endpoint> committee_addresses(const LedgerOptions& lo) {
  std::vector<Endpoint> out;
  for (const auto& p : lo.bft_peers) out.push_back(parse_endpoint_or_throw(p, "--bft-peer"));
  return out;
}
}  // namespace

void check_test_fault(const LedgerOptions& lo, bool storage) {
  const std::string& fault = lo.test_fault;
  if (fault.empty()) return;
  const char* env = std::getenv("BC_TEST_FAULTS");
  if (env == nullptr || std::string(env) != "1")
    throw ConfigError("--test-fault " + fault + " makes this node misbehave so that it is slashed; it is for tests "
                      "only. Remove the flag, or set BC_TEST_FAULTS=1 in the environment of a test network");
  if (fault != "equivocate" && fault != "storage-wrong-answers" && fault != kFavourValidators)
    throw ConfigError("--test-fault: unknown fault \"" + fault +
                      "\"; the faults are equivocate, storage-wrong-answers and favour-validators");
  if (fault == "storage-wrong-answers" && !storage) throw ConfigError("--test-fault storage-wrong-answers needs --storage");
  if (fault != kFavourValidators) return;
  if (lo.bft_peers.empty())
    throw ConfigError("--test-fault favour-validators needs --bft-peer: the committee's addresses it favours");
  std::string ips;
  for (const auto& a : committee_addresses(lo)) ips += (ips.empty() ? "" : " ") + a.ip_string();
  spdlog::warn("sal: TEST FAULT: this node takes flows for its services only from the committee's addresses ({}) "
               "and refuses every other client (--test-fault favour-validators); its offers are to be slashed",
               ips);
}

sal::FlowFilter favour_validators_filter(const LedgerOptions& lo) {
  if (lo.test_fault != kFavourValidators) return nullptr;
  return [committee = committee_addresses(lo)](const sal::ServiceId&, const Endpoint& from) {
    return std::any_of(committee.begin(), committee.end(), [&](const Endpoint& v) { return v.ip == from.ip; });
  };
}

}  // namespace bc::apps

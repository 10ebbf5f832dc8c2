#include "apps/storage/pipeline.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <numeric>
#include <set>

#include "apps/storage/detail/segment_buffers.hpp"
#include "apps/storage/merkle.hpp"
#include "apps/storage/placement.hpp"
#include "apps/storage/put_journal.hpp"
#include "layers/assert.hpp"
#include "layers/crypto.hpp"

namespace bc::storage {
Status unavailable(std::string detail) { return bc::fail(make_error_code(Errc::kUnavailable), std::move(detail)); }

Result<std::size_t> read_full(const Source& source, std::span<std::uint8_t> out) {
  std::size_t got = 0;
  while (got < out.size()) {
    Result<std::size_t> n = source(out.subspan(got));
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    BC_ASSERT(*n <= out.size() - got);
    got += *n;
  }
  return got;
}

Status check_placement(const std::vector<std::size_t>& placement, std::uint32_t shards, std::size_t providers) {
  if (placement.size() != shards) return fail(Error::kBadShape, "placement needs one provider per shard");
  std::set<std::size_t> distinct(placement.begin(), placement.end());
  if (distinct.size() != placement.size()) return fail(Error::kBadShape, "placement repeats a provider");
  if (*distinct.rbegin() >= providers) return fail(Error::kBadShape, "placement names an unknown provider");
  return Status::success();
}

namespace {

Salt fresh_salt() {
  Salt s;
  random_bytes(s);
  return s;
}

}  // namespace

StorageClient::StorageClient(const Key256& master, ShardTransport& transport)
    : master_(master), transport_(transport), strikes_(transport.providers(), 0) {}

void StorageClient::set_nearness(std::vector<std::int64_t> rtt_us) {
  BC_ASSERT(rtt_us.empty() || rtt_us.size() == transport_.providers());
  rtt_us_ = std::move(rtt_us);
}

std::vector<ShardTransport::Answer> StorageClient::exchange(std::vector<ShardTransport::Call> calls,
                                                             std::size_t held_bytes) {
  for (const auto& c : calls) held_bytes += c.request.size();
  auto answers = transport_.exchange(std::move(calls));
  for (const auto& a : answers) held_bytes += a.response.size();
  stats_.peak_buffer_bytes = std::max(stats_.peak_buffer_bytes, held_bytes);
  return answers;
}

Result<StoredFile> StorageClient::put(const Source& source, const PutOptions& options, TimeMs now,
                                      PutJournal* journal) {
  Manifest m;
  m.shape = Shape{0, options.segment_size, options.data_shards, options.parity_shards};
  Status s = check_shape(m.shape);
  if (s.ok()) s = check_placement(options.placement, m.shape.total_shards(), transport_.providers());
  if (s.ok() && options.name.size() > kMaxNameBytes) s = fail(Error::kOversized, "name too long");
  if (s.ok() && options.expires_at <= now) s = fail(Error::kExpired, "expiry is in the past");
  if (!s.ok()) return s;
  m.name = options.name;
  const std::uint32_t max_shard = (options.segment_size + kTagBytes + options.data_shards - 1) / options.data_shards;
  SegmentBuffers b(options.data_shards, options.parity_shards, max_shard);
  std::uint64_t first = 0;
  if (journal && journal->header()) {
    auto resumed = resume_from(*journal, options, source, b, m);
    if (!resumed.ok()) return resumed.status();
    first = *resumed;
  } else {
    m.file_salt = fresh_salt();
    if (journal) s = journal->begin({m.file_salt, options.segment_size, options.data_shards, options.parity_shards,
                                     options.expires_at, options.name, options.placement});
    if (s.ok() && journal && options.on_journal_begun) s = options.on_journal_begun(*journal);
    if (!s.ok()) return s;
  }
  s = put_segments(source, b, m, first, options, journal);
  if (!s.ok()) {
    // Best effort: a failed put leaves nothing paid for, unless a journal
    // keeps what was confirmed for a resume.
    if (!journal) (void)delete_shards(m, options.placement);
    return s;
  }
  s = check_manifest(m);
  if (!s.ok()) return s;
  StoredFile out;
  out.envelope = seal_manifest(master_, m, fresh_salt());
  out.cid = content_id(out.envelope);
  out.placement = options.placement;
  return out;
}

// Checks that the journal belongs to this put, reads the source past the
// segments it recorded (each must match its digest: the file must not have
// changed) and restores their roots. Returns the next segment's index.
Result<std::uint64_t> StorageClient::resume_from(const PutJournal& journal, const PutOptions& options,
                                                 const Source& source, SegmentBuffers& b, Manifest& m) {
  const PutJournalHeader& h = *journal.header();
  if (h.segment_size != options.segment_size || h.data_shards != options.data_shards ||
      h.parity_shards != options.parity_shards || h.placement != options.placement || h.name != options.name ||
      h.expires_at != options.expires_at)
    return fail(Error::kBadShape, "the put journal " + journal.path().string() +
                                      " was started with other options (segment size, shards, placement, name or "
                                      "expiry); give the same ones, or remove it to start over");
  const Status changed = fail(Error::kBadShape, "the file differs from the one the put journal " + journal.path().string() +
                                                    " started with; remove the journal to put it from the start");
  m.file_salt = h.file_salt;
  for (const PutJournalSegment& seg : journal.segments()) {
    auto n = read_full(source, std::span(b.segment).first(seg.plain_len));
    if (!n.ok()) return n.status();
    if (*n != seg.plain_len || sha256(ByteView(b.segment.data(), *n)) != seg.plain_digest) return changed;
    m.shard_roots.insert(m.shard_roots.end(), seg.roots.begin(), seg.roots.end());
    m.shape.file_size += seg.plain_len;
  }
  const bool ended = !journal.segments().empty() && journal.segments().back().plain_len < options.segment_size;
  if (ended) {  // the last segment recorded was the file's end: nothing may follow
    auto more = read_full(source, std::span(b.segment).first(1));
    if (!more.ok()) return more.status();
    if (*more != 0) return changed;
  }
  stats_.segments_resumed = journal.segments().size();
  return journal.segments().size();
}

// Puts each shard on its provider (with the shard's delete token) and waits
// for every provider to confirm it stored exactly that many bytes.
Status StorageClient::send_puts(const std::vector<ShardPut>& puts, const Salt& file_salt, TimeMs expires_at,
                                std::size_t held_bytes) {
  std::vector<ShardTransport::Call> calls;
  std::map<std::uint64_t, std::size_t> expected;  // request id -> index in puts
  for (std::size_t p = 0; p < puts.size(); ++p) {
    const Key256 token = delete_token(master_, file_salt, puts[p].root);
    expected[next_request_] = p;
    calls.push_back({puts[p].provider, encode_put(next_request_++, puts[p].root, puts[p].shard, sha256(token), expires_at,
                                                       puts[p].escrow)});
  }
  for (auto& a : exchange(std::move(calls), held_bytes)) {
    auto r = decode_response(a.response);
    if (!r.ok()) return fail(error_of(r.status()), "provider " + std::to_string(a.provider) + ": " + r.status().message);
    auto e = expected.find(r->request_id);
    if (e == expected.end()) continue;
    if (auto* f = std::get_if<FailureResponse>(&r->body))
      return fail(f->code, "provider " + std::to_string(a.provider) + " refused a shard: " + f->reason);
    auto* stored = std::get_if<StoredResponse>(&r->body);
    if (!stored || stored->size != puts[e->second].shard.size())
      return fail(Error::kMalformed, "provider answered a put with something else");
    expected.erase(e);
    ++stats_.shards_sent;
  }
  if (!expected.empty()) return unavailable(std::to_string(expected.size()) + " providers did not answer a put");
  return Status::success();
}

Result<Manifest> StorageClient::open_file(const StoredFile& file) const {
  if (content_id(file.envelope) != file.cid) return fail(Error::kBadRoot, "the manifest does not hash to the content id");
  auto m = open_manifest(master_, file.envelope);
  if (!m.ok()) return m;
  Status s = check_placement(file.placement, m->shape.total_shards(), transport_.providers());
  if (!s.ok()) return s;
  return m;
}

Status StorageClient::fetch_segment(SegmentBuffers& b, const Manifest& m, const std::vector<std::size_t>& placement,
                                    std::uint64_t i) {
  SegmentWindow w(b, m.shape.max_shard_size());
  return fetch_segments(w, 1, m, placement, i);
}

namespace {

// One segment being fetched: which shards to ask for next, which arrived.
struct SegmentFetch {
  std::uint64_t index;
  SegmentBuffers* b;
  std::uint32_t size;                 // shard size of this segment
  std::vector<std::uint32_t> order;   // shard indexes, best provider first
  std::size_t next = 0;               // order[next] is the next shard to ask for
  std::array<bool, kMaxTotalShards> present{};
  std::uint32_t good = 0;
};

}  // namespace

// Collects k shards of each segment that match their roots, asking in
// fetch_order (the fewest strikes, then the nearest cluster level, data
// shards before parity), then others for each shard that failed, every segment's
// requests of a round in one exchange; decodes the missing data shards.
Status StorageClient::fetch_segments(SegmentWindow& w, std::size_t count, const Manifest& m,
                                     const std::vector<std::size_t>& placement, std::uint64_t first) {
  const std::uint32_t k = m.shape.data_shards, total = m.shape.total_shards();
  std::vector<SegmentFetch> segs;
  for (std::size_t t = 0; t < count; ++t) {
    segs.push_back({first + t, &w.at(t), m.shape.shard_size(first + t), fetch_order(placement, k, strikes_, rtt_us_)});
  }
  for (;;) {
    std::vector<ShardTransport::Call> calls;
    std::map<std::uint64_t, std::pair<SegmentFetch*, std::uint32_t>> asked;  // request id -> segment, shard
    for (SegmentFetch& f : segs) {
      if (f.good >= k) continue;
      if (f.next + (k - f.good) > total)
        return fail(Error::kNotEnoughShards, "segment " + std::to_string(f.index) + ": fewer than k good shards");
      for (std::uint32_t want = k - f.good; want > 0; --want, ++f.next) {
        const std::uint32_t j = f.order[f.next];
        asked[next_request_] = {&f, j};
        calls.push_back({placement[j], encode_request(Request{next_request_++, GetRangeRequest{m.root(f.index, j), 0, f.size}})});
      }
    }
    if (calls.empty()) break;
    for (auto& a : exchange(std::move(calls), w.allocated())) {
      auto r = decode_response(a.response);
      if (!r.ok()) continue;
      auto it = asked.find(r->request_id);
      if (it == asked.end()) continue;
      auto [f, j] = it->second;
      asked.erase(it);
      auto* d = std::get_if<DataResponse>(&r->body);
      if (!d || d->data.size() != f->size || shard_root(d->data) != m.root(f->index, j)) {
        ++(d ? stats_.bad_shards : stats_.missing_shards);
        ++strikes_[placement[j]];
        continue;
      }
      std::memcpy(f->b->shard(j, f->size), d->data.data(), f->size);
      f->present[j] = true;
      ++f->good;
      ++stats_.shards_fetched;
    }
    for (const auto& [id, asked_shard] : asked) {
      ++stats_.missing_shards;
      ++strikes_[placement[asked_shard.second]];
    }
  }
  for (SegmentFetch& f : segs) {
    std::vector<std::uint8_t*> shards(total);
    for (std::uint32_t j = 0; j < total; ++j) shards[j] = f.b->shard(j, f.size);
    if (std::count(f.present.begin(), f.present.begin() + k, true) < k) ++stats_.decodes;
    Status s = f.b->coder.reconstruct_data(shards, std::span<const bool>(f.present.data(), total), f.size);
    if (!s.ok()) return s;
  }
  return Status::success();
}

Result<std::size_t> StorageClient::remove(const StoredFile& file) {
  auto m = open_file(file);
  if (!m.ok()) return m.status();
  return delete_shards(*m, file.placement);
}

// Deletes every shard whose root is in m.shard_roots (a shard already gone
// counts as deleted, one a provider's offer commits to as kept), one
// segment's shards per exchange. Returns the kept count.
Result<std::size_t> StorageClient::delete_shards(const Manifest& m, const std::vector<std::size_t>& placement) {
  std::size_t kept = 0;
  const std::uint32_t total = m.shape.total_shards();
  const std::size_t segments = m.shard_roots.size() / (32 * std::size_t{total});
  for (std::size_t i = 0; i < segments; ++i) {
    std::vector<ShardTransport::Call> calls;
    std::map<std::uint64_t, std::uint32_t> asked;
    for (std::uint32_t j = 0; j < total; ++j) {
      ShardId root;
      std::memcpy(root.bytes.data(), m.shard_roots.data() + (i * total + j) * 32, 32);
      asked[next_request_] = j;
      const Request req{next_request_++, DeleteShardRequest{root, delete_token(master_, m.file_salt, root)}};
      calls.push_back({placement[j], encode_request(req)});
    }
    for (auto& a : exchange(std::move(calls), 0)) {
      auto r = decode_response(a.response);
      if (!r.ok() || !asked.count(r->request_id)) continue;
      auto* f = std::get_if<FailureResponse>(&r->body);
      if (f && f->code != Error::kNotFound && f->code != Error::kCommitted)
        return fail(f->code, "provider " + std::to_string(a.provider) + ": " + f->reason);
      kept += f && f->code == Error::kCommitted;
      asked.erase(r->request_id);
    }
    if (!asked.empty()) return unavailable(std::to_string(asked.size()) + " providers did not answer a delete");
  }
  return kept;
}

Status StorageClient::audit(const StoredFile& file, std::uint64_t segment, std::uint32_t shard, const Hash256& seed) {
  auto m = open_file(file);
  if (!m.ok()) return m.status();
  if (segment >= m->shape.segment_count() || shard >= m->shape.total_shards())
    return fail(Error::kNotFound, "no such segment or shard");
  const std::uint64_t id = next_request_;
  auto answers = exchange({audit_call(*m, file.placement, segment, shard, seed)}, 0);
  for (auto& a : answers) {
    auto r = decode_response(a.response);
    if (r.ok() && r->request_id == id) return check_audit_answer(*m, segment, shard, seed, *r);
  }
  return unavailable("the provider did not answer the audit");
}

ShardTransport::Call StorageClient::audit_call(const Manifest& m, const std::vector<std::size_t>& placement,
                                               std::uint64_t segment, std::uint32_t shard, const Hash256& seed) {
  return {placement[shard], encode_request(Request{next_request_++, AuditRequest{m.root(segment, shard), seed}})};
}

// kOk when the provider's answer is a proof for the challenged leaf that
// leads to the manifest's root of that shard.
Status check_audit_answer(const Manifest& m, std::uint64_t segment, std::uint32_t shard, const Hash256& seed,
                          const Response& answer) {
  const ShardId root = m.root(segment, shard);
  if (auto* f = std::get_if<FailureResponse>(&answer.body)) return fail(f->code, "audit refused: " + f->reason);
  auto* audit = std::get_if<AuditAnswer>(&answer.body);
  if (!audit) return fail(Error::kBadProof, "not a proof");
  const MerkleProof* proof = &audit->proof;
  if (proof->shard_size != m.shape.shard_size(segment) ||
      proof->leaf_index != audit_leaf_index(seed, root, proof->shard_size))
    return fail(Error::kBadProof, "proof for another leaf or size");
  return verify_proof(root, *proof);
}

}  // namespace bc::storage

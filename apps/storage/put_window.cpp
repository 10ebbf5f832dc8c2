// StorageClient::put's segment loop (docs/storage.md "Client pipeline"): a
// sliding window of segments. The caller's thread reads the source and
// drives the network; a CpuWorker seals, encodes, hashes and builds each
// segment's requests meanwhile, into one of two segment buffers.
#include <cstring>
#include <deque>
#include <map>

#include "apps/storage/cpu_worker.hpp"
#include "apps/storage/detail/segment_buffers.hpp"
#include "apps/storage/merkle.hpp"
#include "apps/storage/pipeline.hpp"
#include "apps/storage/put_journal.hpp"
#include "layers/assert.hpp"
#include "layers/crypto.hpp"

namespace bc::storage {

// One segment from its read to its providers' confirmations.
struct StorageClient::PutSegment {
  std::uint64_t index = 0;
  std::uint32_t plain_len = 0;
  Hash256 digest;                              // of the plaintext, for the journal
  Bytes roots;                                 // its k + m shard roots
  std::vector<ShardTransport::Call> calls;     // built by the worker
  std::uint64_t first_id = 0;                  // request ids first_id .. first_id + k + m - 1
  std::uint32_t shard_size = 0;
  std::size_t request_bytes = 0;
  std::size_t unconfirmed = 0;                 // shards sent and not yet confirmed
  SegmentBuffers* buffers = nullptr;           // while the worker seals it
  bool sent = false;
};

// Worker thread: seals segment s (its plain_len bytes are at the start of
// its buffer), encodes it, and builds one put request per shard, with
// request ids first_id, first_id + 1, ...
void StorageClient::seal_segment(PutSegment& s, SegmentCipher& cipher, const PutOptions& options, const Salt& salt,
                                 bool journaled) const {
  SegmentBuffers& b = *s.buffers;
  const std::uint32_t k = options.data_shards, total = k + options.parity_shards;
  const std::size_t sealed_len = s.plain_len + kTagBytes;
  const std::uint32_t shard_size = s.shard_size;
  if (journaled) s.digest = sha256(ByteView(b.segment.data(), s.plain_len));
  cipher.seal(s.index, ByteView(b.segment.data(), s.plain_len), std::span(b.segment).first(sealed_len));
  std::memset(b.segment.data() + sealed_len, 0, std::size_t{k} * shard_size - sealed_len);
  b.encode_parity(shard_size);
  for (std::uint32_t j = 0; j < total; ++j) {
    const ByteView shard(b.shard(j, shard_size), shard_size);
    const ShardId root = shard_root(shard);
    s.roots.insert(s.roots.end(), root.bytes.begin(), root.bytes.end());
    const Key256 token = delete_token(master_, salt, root);
    const Hash256 escrow = j < options.escrows.size() ? options.escrows[j] : Hash256{};
    s.calls.push_back({options.placement[j], encode_put(s.first_id + j, root, shard, sha256(token), options.expires_at,
                                                        escrow, transport_.request_buffer(put_frame_bytes(shard_size)))});
    s.request_bytes += s.calls.back().request.size();
  }
}

// Appends a confirmed segment to the manifest and the journal.
Status StorageClient::retire(const PutSegment& s, Manifest& m, PutJournal* journal) {
  m.shard_roots.insert(m.shard_roots.end(), s.roots.begin(), s.roots.end());
  m.shape.file_size += s.plain_len;
  ++stats_.segments;
  stats_.bytes += s.plain_len;
  if (!journal) return Status::success();
  return journal->segment_done({s.plain_len, s.digest, s.roots});
}

// Retires the confirmed segments at the front of segs, in order.
Status StorageClient::retire_confirmed(std::deque<PutSegment>& segs, Manifest& m, PutJournal* journal) {
  for (; !segs.empty() && segs.front().sent && segs.front().unconfirmed == 0; segs.pop_front()) {
    Status s = retire(segs.front(), m, journal);
    if (!s.ok()) return s;
  }
  return Status::success();
}

// Checks one answer to a put; kOk for an answer to no request of ours.
Status StorageClient::check_put_answer(const ShardTransport::Answer& a, std::map<std::uint64_t, PutAsked>& asked) {
  auto r = decode_response(a.response);
  if (!r.ok()) return fail(error_of(r.status()), "provider " + std::to_string(a.provider) + ": " + r.status().message);
  auto e = asked.find(r->request_id);
  if (e == asked.end()) return Status::success();
  if (auto* f = std::get_if<FailureResponse>(&r->body))
    return fail(f->code, "provider " + std::to_string(a.provider) + " refused a shard: " + f->reason);
  auto* stored = std::get_if<StoredResponse>(&r->body);
  if (!stored || stored->size != e->second.size) return fail(Error::kMalformed, "provider answered a put with something else");
  --e->second.segment->unconfirmed;
  asked.erase(e);
  ++stats_.shards_sent;
  return Status::success();
}

// Sends the requests of the segments the worker finished.
void StorageClient::send_sealed(CpuWorker& worker, std::deque<PutSegment>& segs,
                                std::vector<SegmentBuffers*>& free_buffers, std::map<std::uint64_t, PutAsked>& asked) {
  std::vector<ShardTransport::Call> calls;
  for (std::uint64_t tag : worker.take_done()) {
    PutSegment& s = segs[tag - segs.front().index];
    BC_ASSERT(s.index == tag && s.buffers && !s.sent);
    free_buffers.push_back(std::exchange(s.buffers, nullptr));
    for (std::size_t j = 0; j < s.calls.size(); ++j) asked[s.first_id + j] = {&s, s.calls[j].provider, s.shard_size};
    s.unconfirmed = s.calls.size();
    s.sent = true;
    std::move(s.calls.begin(), s.calls.end(), std::back_inserter(calls));
    s.calls.clear();
  }
  std::size_t held = 0;
  for (const SegmentBuffers* b : free_buffers) held += b->allocated();
  for (const PutSegment& s : segs) held += s.request_bytes + (s.buffers ? s.buffers->allocated() : 0);
  stats_.peak_buffer_bytes = std::max(stats_.peak_buffer_bytes, held);
  if (!calls.empty()) transport_.send(std::move(calls));
}

// Waits for answers (or the worker) and checks them: a refusal, or no answer
// from a provider that holds calls of ours, fails the put.
Status StorageClient::await_puts(CpuWorker& worker, std::map<std::uint64_t, PutAsked>& asked) {
  if (asked.empty()) {
    worker.wait_done();
    return Status::success();
  }
  ShardTransport::Collected got = transport_.collect();
  for (const auto& a : got.answers) {
    Status s = check_put_answer(a, asked);
    if (!s.ok()) return s;
  }
  std::size_t lost = 0;
  for (const auto& [id, a] : asked)
    if (got.settled || std::find(got.gave_up.begin(), got.gave_up.end(), a.provider) != got.gave_up.end()) ++lost;
  if (lost > 0) return unavailable(std::to_string(lost) + " shards were not confirmed: a provider did not answer");
  return Status::success();
}

// Reads, seals, encodes and puts segments `index`, index + 1, ... until the
// source ends: at most kPutSegmentsInFlight between read and confirmed, two of
// them in segment buffers. Journals each segment the providers confirmed,
// in order. On failure the roots of every segment sent are in m (for the
// caller's clean-up), after the confirmed ones.
Status StorageClient::put_segments(const Source& source, SegmentBuffers& b, Manifest& m, std::uint64_t index,
                                   const PutOptions& options, PutJournal* journal) {
  SegmentCipher cipher(master_, m.file_salt);
  SegmentBuffers second(options.data_shards, options.parity_shards,
                        static_cast<std::uint32_t>(b.segment.size() / options.data_shards));
  std::vector<SegmentBuffers*> free_buffers{&second, &b};
  std::deque<PutSegment> segs;
  std::map<std::uint64_t, PutAsked> asked;  // request id -> its segment
  std::uint64_t size = m.shape.file_size;
  bool source_ended = false;
  Status read_error = Status::success();
  const std::uint32_t k = options.data_shards, total = m.shape.total_shards();
  // A failed put: what was confirmed in order is journaled, and every sent
  // segment's roots are in m, so the caller can delete them.
  auto abandon = [&](Status failed) {
    Status journaled = retire_confirmed(segs, m, journal);
    if (!journaled.ok()) return journaled;
    for (const PutSegment& seg : segs)
      if (seg.sent) m.shard_roots.insert(m.shard_roots.end(), seg.roots.begin(), seg.roots.end());
    return failed;
  };
  CpuWorker worker([this] { transport_.wake(); });  // last: its job under way ends before the above go
  for (;;) {
    while (!source_ended && !free_buffers.empty() && segs.size() < kPutSegmentsInFlight) {
      SegmentBuffers* buf = free_buffers.back();
      auto n = read_full(source, std::span(buf->segment).first(options.segment_size));
      if (!n.ok()) read_error = n.status();  // the segments read before it are still sent and journaled
      if (!n.ok() || *n == 0) {
        source_ended = true;
        break;
      }
      size += *n;
      if (size >= kMaxFileSize) return abandon(fail(Error::kBadShape, "file too large"));
      free_buffers.pop_back();
      PutSegment& s = segs.emplace_back();
      s.index = index++;
      s.plain_len = static_cast<std::uint32_t>(*n);
      s.shard_size = static_cast<std::uint32_t>((s.plain_len + kTagBytes + k - 1) / k);
      s.buffers = buf;
      s.first_id = next_request_;
      next_request_ += total;
      source_ended = s.plain_len < options.segment_size;
      worker.submit(s.index, [this, &s, &cipher, &options, &m, journaled = journal != nullptr] {
        seal_segment(s, cipher, options, m.file_salt, journaled);
      });
    }
    send_sealed(worker, segs, free_buffers, asked);
    Status s = retire_confirmed(segs, m, journal);
    if (!s.ok()) return s;
    if (segs.empty() && source_ended) return read_error;
    s = await_puts(worker, asked);
    if (!s.ok()) return abandon(s);
  }
}

}  // namespace bc::storage

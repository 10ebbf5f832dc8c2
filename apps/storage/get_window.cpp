// StorageClient::get (docs/storage.md "Client pipeline"): a sliding window
// of segments. The caller's thread asks for shards, takes the answers off
// the network and hands plaintext to the sink in order; a CpuWorker checks
// each shard against its root, decodes and decrypts meanwhile. The first
// segment is fetched alone, so its bytes reach the sink after one round trip.
#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <functional>
#include <map>

#include "apps/storage/cpu_worker.hpp"
#include "apps/storage/detail/segment_buffers.hpp"
#include "apps/storage/merkle.hpp"
#include "apps/storage/pipeline.hpp"
#include "apps/storage/placement.hpp"
#include "layers/assert.hpp"

namespace bc::storage {

struct StorageClient::GetWindow {
  // One segment from its first request to the sink.
  struct Segment {
    std::uint64_t index = 0;
    std::uint32_t size = 0;            // its shard size
    SegmentBuffers* b = nullptr;
    std::vector<std::uint32_t> order;  // shard indexes, best provider first
    std::size_t next = 0;              // order[next] is the next shard to ask for
    std::array<bool, kMaxTotalShards> present{};
    std::uint32_t good = 0;
    std::uint32_t pending = 0;         // shards asked for or being checked
    bool decoding = false;             // the worker decodes and decrypts it
    bool ready = false;                // plaintext at the start of b->segment, or status says why not
    Status status = Status::success();
  };
  struct Asked {
    Segment* seg;
    std::uint32_t shard;
  };
  // A worker job: a shard to check (data, a view into the answer it came
  // in), or the segment to decode.
  struct Job {
    Segment* seg;
    std::uint32_t shard = 0;
    Bytes answer;
    ByteView data;
    bool decode = false;
    bool good = false;
  };

  GetWindow(const Manifest& manifest, const std::vector<std::size_t>& shard_placement, SegmentCipher& segment_cipher)
      : m(manifest), placement(shard_placement), cipher(segment_cipher) {}

  const Manifest& m;
  const std::vector<std::size_t>& placement;
  SegmentCipher& cipher;
  CpuWorker* worker = nullptr;
  std::vector<std::unique_ptr<SegmentBuffers>> buffers;
  std::vector<SegmentBuffers*> free_buffers;
  std::deque<Segment> segs;          // in segment order, not yet sunk
  std::map<std::uint64_t, Asked> asked;  // request id -> what it asked for
  std::map<std::uint64_t, Job> jobs;     // worker tag -> its job
  std::uint64_t next_tag = 0;
  std::uint64_t next_start = 0;      // the next segment to start fetching
  std::uint64_t sunk = 0;            // segments handed to the sink
  std::vector<std::uint64_t> done_here;  // jobs run on the caller's thread

  // Runs a job on the worker; the first segment's on this thread, as the
  // hand-offs between threads would delay the first byte.
  void run(std::uint64_t tag, std::function<void()> job) {
    if (sunk > 0) return worker->submit(tag, std::move(job));
    job();
    done_here.push_back(tag);
  }
};

// Starts segments up to the window (one until the first reached the sink),
// asks for shards until each segment has k good or asked for, and has the
// worker decode each segment that has k good shards.
Status StorageClient::start_fetches(GetWindow& g) {
  const Shape& shape = g.m.shape;
  const std::uint32_t k = shape.data_shards, total = shape.total_shards();
  const std::size_t window = g.sunk == 0 ? 1 : kSegmentsInFlight;
  while (g.segs.size() < window && g.next_start < shape.segment_count()) {
    if (g.free_buffers.empty()) {
      g.buffers.push_back(std::make_unique<SegmentBuffers>(k, shape.parity_shards, shape.max_shard_size()));
      g.free_buffers.push_back(g.buffers.back().get());
    }
    GetWindow::Segment& s = g.segs.emplace_back();
    s.index = g.next_start++;
    s.size = shape.shard_size(s.index);
    s.b = g.free_buffers.back();
    g.free_buffers.pop_back();
    s.order = fetch_order(g.placement, k, strikes_, rtt_us_);
  }
  std::vector<ShardTransport::Call> calls;
  for (GetWindow::Segment& s : g.segs) {
    if (s.decoding || s.ready) continue;
    if (s.good >= k) {
      BC_ASSERT(s.pending == 0);
      if (std::count(s.present.begin(), s.present.begin() + k, true) < k) ++stats_.decodes;
      s.decoding = true;
      const std::uint64_t tag = g.next_tag++;
      g.jobs[tag] = {&s, 0, {}, {}, true};
      g.run(tag, [&s, &g] {
        std::vector<std::uint8_t*> shards(g.m.shape.total_shards());
        for (std::uint32_t j = 0; j < shards.size(); ++j) shards[j] = s.b->shard(j, s.size);
        s.status = s.b->coder.reconstruct_data(shards, std::span<const bool>(s.present.data(), shards.size()), s.size);
        const std::uint32_t plain = g.m.shape.plain_len(s.index);
        if (s.status.ok())
          s.status = g.cipher.open(s.index, ByteView(s.b->segment.data(), plain + kTagBytes), std::span(s.b->segment).first(plain));
      });
      continue;
    }
    for (; s.good + s.pending < k; ++s.next, ++s.pending) {
      if (s.next >= total) return fail(Error::kNotEnoughShards, "segment " + std::to_string(s.index) + ": fewer than k good shards");
      const std::uint32_t j = s.order[s.next];
      g.asked[next_request_] = {&s, j};
      calls.push_back({g.placement[j], encode_request(Request{next_request_++, GetRangeRequest{g.m.root(s.index, j), 0, s.size}})});
    }
  }
  if (!calls.empty()) transport_.send(std::move(calls));
  return Status::success();
}

// An answer that is not a data response: a failure (or garbage) for one of
// our requests counts against its provider; the shard is asked elsewhere.
void StorageClient::take_failed_answer(GetWindow& g, const ShardTransport::Answer& a) {
  auto r = decode_response(a.response);
  if (!r.ok()) return;
  auto it = g.asked.find(r->request_id);
  if (it == g.asked.end()) return;
  ++(std::holds_alternative<DataResponse>(r->body) ? stats_.bad_shards : stats_.missing_shards);
  ++strikes_[g.placement[it->second.shard]];
  --it->second.seg->pending;
  g.asked.erase(it);
}

// Waits for answers (or the worker); hands each shard that came to the
// worker to check. A wrong or missing answer counts against its provider.
void StorageClient::await_shards(GetWindow& g) {
  if (g.asked.empty()) {
    g.worker->wait_done();
    return;
  }
  ShardTransport::Collected got = transport_.collect();
  for (auto& a : got.answers) {
    const auto view = decode_data_view(a.response);
    if (!view) {
      take_failed_answer(g, a);
      continue;
    }
    auto it = g.asked.find(view->request_id);
    if (it == g.asked.end()) continue;
    const GetWindow::Asked asked = it->second;
    g.asked.erase(it);
    if (view->data.size() != asked.seg->size) {
      ++stats_.bad_shards;
      ++strikes_[g.placement[asked.shard]];
      --asked.seg->pending;
      continue;
    }
    const std::uint64_t tag = g.next_tag++;
    GetWindow::Job& job = g.jobs[tag] = {asked.seg, asked.shard, std::move(a.response), view->data};
    g.run(tag, [&job, root = g.m.root(asked.seg->index, asked.shard)] {
      job.good = shard_root(job.data) == root;
      if (job.good) std::memcpy(job.seg->b->shard(job.shard, job.seg->size), job.data.data(), job.data.size());
    });
  }
  for (auto it = g.asked.begin(); it != g.asked.end();) {
    const std::size_t provider = g.placement[it->second.shard];
    if (!got.settled && std::find(got.gave_up.begin(), got.gave_up.end(), provider) == got.gave_up.end()) {
      ++it;
      continue;
    }
    ++stats_.missing_shards;
    ++strikes_[provider];
    --it->second.seg->pending;
    it = g.asked.erase(it);
  }
  std::size_t held = 0;
  for (const auto& b : g.buffers) held += b->allocated();
  for (const auto& [tag, job] : g.jobs) held += job.answer.size();
  stats_.peak_buffer_bytes = std::max(stats_.peak_buffer_bytes, held);
}

// Applies what the worker finished: checked shards and decoded segments.
void StorageClient::take_checked(GetWindow& g) {
  std::vector<std::uint64_t> done = g.worker->take_done();
  done.insert(done.end(), g.done_here.begin(), g.done_here.end());
  g.done_here.clear();
  for (std::uint64_t tag : done) {
    auto it = g.jobs.find(tag);
    BC_ASSERT(it != g.jobs.end());
    GetWindow::Job& job = it->second;
    GetWindow::Segment& s = *job.seg;
    if (!job.decode) --s.pending;
    if (job.decode) {
      s.decoding = false;
      s.ready = true;
    } else if (job.good) {
      s.present[job.shard] = true;
      ++s.good;
      ++stats_.shards_fetched;
    } else {
      ++stats_.bad_shards;
      ++strikes_[g.placement[job.shard]];
    }
    if (!job.answer.empty()) transport_.recycle(std::move(job.answer));
    g.jobs.erase(it);
  }
}

Status StorageClient::get(const StoredFile& file, const Sink& sink) {
  auto m = open_file(file);
  if (!m.ok()) return m.status();
  const std::uint64_t count = m->shape.segment_count();
  SegmentCipher cipher(master_, m->file_salt);
  GetWindow g(*m, file.placement, cipher);
  CpuWorker worker([this] { transport_.wake(); });  // after g: its job under way ends before g goes
  g.worker = &worker;
  while (g.sunk < count) {
    Status s = start_fetches(g);
    if (!s.ok()) return s;
    for (; !g.segs.empty() && g.segs.front().ready; g.segs.pop_front(), ++g.sunk) {
      GetWindow::Segment& seg = g.segs.front();
      if (!seg.status.ok()) return seg.status;
      const std::uint32_t plain = m->shape.plain_len(seg.index);
      s = sink(ByteView(seg.b->segment.data(), plain));
      if (!s.ok()) return s;
      ++stats_.segments;
      stats_.bytes += plain;
      g.free_buffers.push_back(seg.b);
    }
    if (g.sunk == count) break;
    await_shards(g);
    take_checked(g);
  }
  return Status::success();
}

}  // namespace bc::storage

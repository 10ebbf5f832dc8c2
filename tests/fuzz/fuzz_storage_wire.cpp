// libFuzzer target: hostile bytes -> storage request and response decoders,
// and into a live ProviderCore.
//
// A decoded message must respect every bound and re-encode to bytes that
// decode to the same message; a refused one must carry a reason. The core
// must answer or drop every frame without crashing, and leave only tasks
// whose sizes are inside the limits.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "apps/storage/messages.hpp"
#include "apps/storage/provider.hpp"

using namespace bc;
using namespace bc::storage;

namespace {
void require(bool ok) {
  if (!ok) __builtin_trap();
}

void check_request(ByteView data) {
  RequestDecode d = decode_request(data);
  if (!d.status.ok()) {
    require(!d.status.message.empty());
    return;
  }
  require(data.size() <= kMaxRequestBytes);
  if (auto* p = std::get_if<PutShardRequest>(&d.request.body))
    require(!p->data.empty() && p->data.size() <= kMaxShardBytes);
  if (auto* g = std::get_if<GetRangeRequest>(&d.request.body)) require(g->length > 0 && g->length <= kMaxShardBytes);
  if (auto* r = std::get_if<ReceiptRequest>(&d.request.body)) require(r->cumulative > 0);
  RequestDecode again = decode_request(encode_request(d.request));
  require(again.status.ok() && again.request.request_id == d.request.request_id);
  require(again.request.body.index() == d.request.body.index());
  if (auto* r = std::get_if<ReceiptRequest>(&d.request.body)) require(std::get<ReceiptRequest>(again.request.body) == *r);
}

void check_response(ByteView data) {
  auto r = decode_response(data);
  if (!r.ok()) {
    require(!r.status().message.empty());
    return;
  }
  if (auto* a = std::get_if<AuditAnswer>(&r->body)) {
    require(a->proof.path.size() <= kMaxProofHashes && a->proof.leaf.size() <= kLeafSize);
    (void)verify_proof(Hash256{}, a->proof);
  }
  auto again = decode_response(encode_response(*r));
  require(again.ok() && again->request_id == r->request_id && again->body.index() == r->body.index());
}

// The in-place data decoder agrees with the full one on an aligned copy.
void check_data_view(ByteView data) {
  const Bytes aligned(data.begin(), data.end());
  auto v = decode_data_view(aligned);
  auto r = decode_response(aligned);
  auto* d = r.ok() ? std::get_if<DataResponse>(&r->body) : nullptr;
  require(v.has_value() == (d != nullptr));
  if (!v) return;
  require(v->request_id == r->request_id && Bytes(v->data.begin(), v->data.end()) == d->data);
  require(v->data.empty() || (v->data.data() >= aligned.data() && v->data.data() + v->data.size() <= aligned.data() + aligned.size()));
}

void drive_core(ByteView data) {
  ProviderCore core(ProviderOptions{.max_inflight_per_peer = 4});
  Outbox out;
  core.on_peer_up(1, Endpoint{}, false, 0, out);
  core.on_frame(1, data, 1000, out);
  while (auto task = core.poll_event()) {
    require(task->data.size() <= kMaxShardBytes && task->length <= kMaxShardBytes);
    switch (task->kind) {
      case StoreTask::Kind::kPut: core.handle_put_done(task->ticket, Status::success(), 1000, out); break;
      case StoreTask::Kind::kRead: core.handle_read_done(task->ticket, Bytes(data.begin(), data.end()), 1000, out); break;
      case StoreTask::Kind::kServe: {
        const std::size_t n = std::min<std::size_t>(data.size(), task->length);
        DataFrame f = core.serve_frame(task->ticket, n);
        std::copy_n(data.begin(), n, f.frame.begin() + static_cast<std::ptrdiff_t>(f.data_offset));
        core.handle_serve_done(task->ticket, Status::success(), std::move(f.frame), 1000, out);
        break;
      }
      case StoreTask::Kind::kRemove: core.handle_remove_done(task->ticket, fail(Error::kNotFound, "none"), 1000, out); break;
    }
  }
  require(out.frames.size() + out.disconnects.size() == 1);
  for (const auto& f : out.frames) require(decode_response(f.payload).ok());
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView in(data, size);
  check_request(in);
  check_response(in);
  check_data_view(in);
  drive_core(in);
  return 0;
}

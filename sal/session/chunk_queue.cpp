// ChunkQueue: the byte FIFO behind each flow's send and receive buffers.
#include "sal/session/detail/flow.hpp"

#include <algorithm>
#include <cstring>

namespace bc::sal {

void ChunkQueue::append(ByteView data) {
  while (!data.empty()) {
    if (first_ == chunks_.size() || chunks_.back().size() >= kChunk) {
      // Small writes get a small chunk that grows; large ones a full chunk.
      chunks_.emplace_back().reserve(std::min(kChunk, std::max<std::size_t>(data.size(), 512)));
    }
    Bytes& last = chunks_.back();
    const std::size_t n = std::min(kChunk - last.size(), data.size());
    last.insert(last.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
    size_ += n;
    data = data.subspan(n);
  }
}

ByteView ChunkQueue::peek(std::size_t at, std::size_t max) const {
  std::size_t i = first_;
  at += head_off_;
  while (i < chunks_.size() && at >= chunks_[i].size()) {
    at -= chunks_[i].size();
    ++i;
  }
  if (i == chunks_.size()) return {};
  const Bytes& c = chunks_[i];
  return ByteView(c.data() + at, std::min(max, c.size() - at));
}

void ChunkQueue::pop(std::size_t n) {
  n = std::min(n, size_);
  size_ -= n;
  while (n > 0) {
    const std::size_t left = chunks_[first_].size() - head_off_;
    if (n < left) {
      head_off_ += n;
      break;
    }
    n -= left;
    Bytes().swap(chunks_[first_]);
    ++first_;
    head_off_ = 0;
  }
  if (size_ == 0) {
    clear();
  } else if (first_ >= 16 && first_ * 2 >= chunks_.size()) {
    // Drop the emptied front slots now and then (pointer moves only).
    chunks_.erase(chunks_.begin(), chunks_.begin() + static_cast<std::ptrdiff_t>(first_));
    first_ = 0;
  }
}

std::size_t ChunkQueue::read(std::span<std::uint8_t> out) {
  std::size_t done = 0;
  while (done < out.size() && size_ > 0) {
    ByteView v = peek(0, out.size() - done);
    std::memcpy(out.data() + done, v.data(), v.size());
    done += v.size();
    pop(v.size());
  }
  return done;
}

void ChunkQueue::clear() {
  std::vector<Bytes>().swap(chunks_);
  first_ = 0;
  head_off_ = 0;
  size_ = 0;
}

}  // namespace bc::sal

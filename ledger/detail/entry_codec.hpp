// Helpers for the fixed byte encodings of state entries (ledger/state.hpp).
// Private to ledger/.
#pragma once
#include <array>
#include <cstdint>
#include <cstring>
#include <string>

#include "layers/bytes.hpp"
#include "ledger/types.hpp"

namespace bc::ledger::detail {

inline void put32(Bytes& out, const std::array<std::uint8_t, 32>& b) { out.insert(out.end(), b.begin(), b.end()); }

// Sequential reader over a fixed encoding; any short read fails the whole decode.
struct EntryReader {
  ByteView b;
  std::size_t pos = 0;
  bool ok = true;
  std::uint64_t u64() {
    if (pos + 8 > b.size()) return ok = false, 0;
    std::uint64_t v = be64_load(b.data() + pos);
    pos += 8;
    return v;
  }
  std::uint8_t u8() {
    if (pos + 1 > b.size()) return ok = false, 0;
    return b[pos++];
  }
  template <std::size_t N>
  void fixed(std::array<std::uint8_t, N>& out) {
    if (pos + N > b.size()) {
      ok = false;
      return;
    }
    std::memcpy(out.data(), b.data() + pos, N);
    pos += N;
  }
  void fixed32(std::array<std::uint8_t, 32>& out) { fixed(out); }
  std::string str(std::size_t n) {
    if (pos + n > b.size()) return ok = false, std::string();
    std::string s(reinterpret_cast<const char*>(b.data() + pos), n);
    pos += n;
    return s;
  }
  bool done() const { return ok && pos == b.size(); }
};

}  // namespace bc::ledger::detail

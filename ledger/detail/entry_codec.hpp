// Helpers for the fixed byte encodings of state entries (ledger/state.hpp).
// Private to ledger/.
#pragma once
#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
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

// An optional number: a presence byte (0 or 1), then the value when present.
inline void put_optional_u64(Bytes& out, const std::optional<std::uint64_t>& v) {
  out.push_back(v ? 1 : 0);
  if (v) append_be64(out, *v);
}
// False on a presence byte other than 0 or 1 or a short read.
inline bool read_optional_u64(EntryReader& r, std::optional<std::uint64_t>& v) {
  const std::uint8_t present = r.u8();
  if (!r.ok || present > 1) return false;
  v.reset();
  if (present) v = r.u64();
  return r.ok;
}

}  // namespace bc::ledger::detail

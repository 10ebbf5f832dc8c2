// Text encodings the RPC uses for binary values.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "layers/bytes.hpp"

namespace bc {

std::string base64_encode(ByteView data);
// Standard alphabet with padding (padding optional); nullopt on any other character.
std::optional<Bytes> base64_decode(std::string_view text);
// True if data is well-formed UTF-8 without NUL or other C0 controls except
// tab and newline, so it can be shown as text.
bool is_printable_utf8(ByteView data);

}  // namespace bc

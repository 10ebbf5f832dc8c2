// Process-wide logging setup (spdlog): one level, stderr, optionally a file.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace bc::log {

// "trace", "debug", "info", "warn", "error" or "off"; nullopt otherwise.
std::optional<spdlog::level::level_enum> parse_level(std::string_view text);

// Installs the default logger: stderr always, plus `file` (appended) if not
// empty. Throws std::runtime_error naming the level or file when invalid or
// unwritable. Lines look like "2026-11-21 11:20:00.123 info  message".
void setup(std::string_view level, const std::filesystem::path& file = {});

}  // namespace bc::log

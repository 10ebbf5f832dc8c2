// Human-readable output for blockcloud-cli: durations, sizes, tables.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

namespace bc::cli {

std::string human_duration(std::int64_t seconds);  // "2h 5m", "45s"
std::string human_bytes(std::uint64_t n);          // "1.2 KiB"
// Left-aligned columns separated by two spaces; first row is the header.
std::string table(const std::vector<std::vector<std::string>>& rows);
// A value for display: the text if it has one, else "base64:<...>". Quoted
// and shortened to `max` characters.
std::string display_value(const boost::json::object& record, std::size_t max = 60);
std::string str(const boost::json::value& v);  // string, number or "-" for null/absent
std::string local_time(std::int64_t unix_ms);  // "12:03:04"

}  // namespace bc::cli

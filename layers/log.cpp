#include "layers/log.hpp"

#include <memory>
#include <stdexcept>
#include <vector>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace bc::log {

std::optional<spdlog::level::level_enum> parse_level(std::string_view text) {
  using L = spdlog::level::level_enum;
  if (text == "trace") return L::trace;
  if (text == "debug") return L::debug;
  if (text == "info") return L::info;
  if (text == "warn") return L::warn;
  if (text == "error") return L::err;
  if (text == "off") return L::off;
  return std::nullopt;
}

void setup(std::string_view level, const std::filesystem::path& file) {
  const auto lvl = parse_level(level);
  if (!lvl)
    throw std::runtime_error("log level \"" + std::string(level) +
                             "\" is not valid; use trace, debug, info, warn, error or off");
  std::vector<spdlog::sink_ptr> sinks;
  // Unbuffered stderr: a daemon's log file (devnet redirects stderr) is
  // readable while it runs and complete after a crash.
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (!file.empty()) {
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.string(), false));
    } catch (const spdlog::spdlog_ex& e) {
      throw std::runtime_error("cannot open log file " + file.string() + ": " + e.what() +
                               "; check the directory exists and is writable");
    }
  }
  auto logger = std::make_shared<spdlog::logger>("blockcloud", sinks.begin(), sinks.end());
  logger->set_level(*lvl);
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %-5l %v");
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace bc::log

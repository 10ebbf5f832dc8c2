#include "apps/common/dht_config.hpp"

namespace bc::apps {

const std::vector<std::string>& dht_config_keys() {
  static const std::vector<std::string> keys = {
      "mode", "k", "alpha", "search_width", "replicas", "request_timeout_ms", "max_retries",
      "fails_before_evict", "bucket_refresh_ms", "ping_interval_ms", "level2_rtt_ms",
      "level1_rtt_ms", "sloppy_l", "sloppy_beta_per_min", "max_store_bytes",
      "max_values_per_key", "max_ttl_ms", "default_ttl_ms", "rate_limit_per_s",
      "rate_limit_burst", "token_rotation_ms", "watch_ttl_ms", "max_datagram_bytes"};
  return keys;
}

const char* mode_name(routing::Mode m) { return m == routing::Mode::kCoral ? "coral" : "kademlia"; }

routing::DhtConfig dht_config_from_table(const ConfigTable& t) {
  table_reject_unknown(t, "dht.", dht_config_keys());
  routing::DhtConfig c;
  const std::string p = "dht.";
  constexpr std::int64_t kDay = 24 * 3600 * 1000LL;
  if (auto v = table_string(t, p, "mode", {"coral", "kademlia"}))
    c.mode = *v == "coral" ? routing::Mode::kCoral : routing::Mode::kKademlia;
  auto set_int = [&](const char* key, auto& field, std::int64_t min, std::int64_t max) {
    if (auto v = table_int(t, p, key, min, max))
      field = static_cast<std::remove_reference_t<decltype(field)>>(*v);
  };
  set_int("k", c.bucket_size, 1, 16);  // a NODES reply carries at most 16 contacts
  set_int("alpha", c.alpha, 1, 32);
  set_int("search_width", c.search_width, 1, 256);
  set_int("replicas", c.replicas, 1, 64);
  set_int("request_timeout_ms", c.request_timeout_ms, 10, 60'000);
  set_int("max_retries", c.max_retries, 0, 10);
  set_int("fails_before_evict", c.fails_before_evict, 1, 100);
  set_int("bucket_refresh_ms", c.bucket_refresh_ms, 1000, kDay);
  set_int("ping_interval_ms", c.ping_interval_ms, 1000, kDay);
  set_int("level2_rtt_ms", c.level2_rtt_ms, 1, 10'000);
  set_int("level1_rtt_ms", c.level1_rtt_ms, 1, 10'000);
  set_int("sloppy_l", c.sloppy_l, 1, 1024);
  set_int("sloppy_beta_per_min", c.sloppy_beta_per_min, 1, 1'000'000);
  set_int("max_store_bytes", c.max_store_bytes, 4096, std::int64_t{1} << 40);
  set_int("max_values_per_key", c.max_values_per_key, 1, 100'000);
  set_int("max_ttl_ms", c.max_ttl_ms, 1000, 30 * kDay);
  set_int("default_ttl_ms", c.default_ttl_ms, 1000, 30 * kDay);
  set_int("token_rotation_ms", c.token_rotation_ms, 1000, kDay);
  set_int("watch_ttl_ms", c.watch_ttl_ms, 1000, kDay);
  set_int("max_datagram_bytes", c.max_datagram_bytes, 1200, 65507);
  if (auto v = table_double(t, p, "rate_limit_per_s", 0.001, 1e9)) c.rate_limit_per_s = *v;
  if (auto v = table_double(t, p, "rate_limit_burst", 1, 1e9)) c.rate_limit_burst = *v;
  if (c.level2_rtt_ms >= c.level1_rtt_ms)
    throw ConfigError("dht.level2_rtt_ms: expected a value below dht.level1_rtt_ms (" +
                      std::to_string(c.level1_rtt_ms) + "), got " + std::to_string(c.level2_rtt_ms));
  if (c.default_ttl_ms > c.max_ttl_ms)
    throw ConfigError("dht.default_ttl_ms: expected at most dht.max_ttl_ms (" +
                      std::to_string(c.max_ttl_ms) + "), got " + std::to_string(c.default_ttl_ms));
  return c;
}

}  // namespace bc::apps

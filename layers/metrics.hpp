// Counters and gauges rendered in the Prometheus text exposition format
// (version 0.0.4) at the daemon's /metrics endpoint.
//
// Protocol cores take a Registry& and keep references to the metrics they
// create; a metric's address is stable for the registry's lifetime. Updates
// are relaxed atomics, so a driver may render from another thread.
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace bc::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void add(double d);
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Registry {
 public:
  // Returns the metric with this name and labels, creating it on first use.
  // Names follow Prometheus rules ([a-zA-Z_:][a-zA-Z0-9_:]*); counters should
  // end in _total. Throws std::invalid_argument for a bad name or a name
  // already used by a metric of the other type.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});

  // Value of a counter, or 0 if it does not exist (for tests and status).
  std::uint64_t counter_value(const std::string& name, const Labels& labels = {}) const;

  std::string render_prometheus() const;

 private:
  struct Family {
    std::string help;
    bool is_counter = true;
    std::map<Labels, Counter*> counters;
    std::map<Labels, Gauge*> gauges;
  };
  // Validates name and labels and finds or creates the family; mu_ held.
  Family& family(const std::string& name, const std::string& help, const Labels& labels,
                 bool is_counter);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::deque<Counter> counter_store_;  // deque: stable addresses
  std::deque<Gauge> gauge_store_;
};

}  // namespace bc::metrics

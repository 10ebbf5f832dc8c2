#include "layers/metrics.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace bc::metrics {

namespace {

bool valid_metric_name(const std::string& name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool valid_label_name(const std::string& name) {
  if (name.empty() || name.rfind("__", 0) == 0) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

void check_labels(const std::string& metric, const Labels& labels) {
  for (const auto& [k, v] : labels)
    if (!valid_label_name(k))
      throw std::invalid_argument("metric " + metric + ": label name \"" + k +
                                  "\" is not valid (use [a-zA-Z_][a-zA-Z0-9_]*, not starting with __)");
}

// HELP text escapes backslash and newline; label values also escape quotes.
std::string escape(const std::string& s, bool quotes) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (quotes && c == '"') out += "\\\"";
    else out += c;
  }
  return out;
}

std::string render_labels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ",";
    out += labels[i].first + "=\"" + escape(labels[i].second, true) + "\"";
  }
  return out + "}";
}

std::string render_double(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

}  // namespace

void Gauge::add(double d) {
  double cur = v_.load(std::memory_order_relaxed);
  while (!v_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

Registry::Family& Registry::family(const std::string& name, const std::string& help,
                                   const Labels& labels, bool is_counter) {
  if (!valid_metric_name(name))
    throw std::invalid_argument("metric name \"" + name + "\" is not valid (use [a-zA-Z_:][a-zA-Z0-9_:]*)");
  check_labels(name, labels);
  auto [it, created] = families_.try_emplace(name);
  Family& f = it->second;
  if (created) {
    f.help = help;
    f.is_counter = is_counter;
  } else if (f.is_counter != is_counter) {
    const char* have = f.is_counter ? "counter" : "gauge";
    const char* want = is_counter ? "counter" : "gauge";
    throw std::invalid_argument("metric " + name + " is already registered as a " + have +
                                "; pick another name for the " + want);
  }
  return f;
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = family(name, help, labels, true).counters[labels];
  if (slot == nullptr) slot = &counter_store_.emplace_back();
  return *slot;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = family(name, help, labels, false).gauges[labels];
  if (slot == nullptr) slot = &gauge_store_.emplace_back();
  return *slot;
}

std::uint64_t Registry::counter_value(const std::string& name, const Labels& labels) const {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end() || !it->second.is_counter) return 0;
  auto c = it->second.counters.find(labels);
  return c == it->second.counters.end() ? 0 : c->second->value();
}

std::string Registry::render_prometheus() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {  // std::map: families sorted by name
    out += "# HELP " + name + " " + escape(f.help, false) + "\n";
    out += "# TYPE " + name + (f.is_counter ? " counter\n" : " gauge\n");
    if (f.is_counter) {
      for (const auto& [labels, c] : f.counters)
        out += name + render_labels(labels) + " " + std::to_string(c->value()) + "\n";
    } else {
      for (const auto& [labels, g] : f.gauges)
        out += name + render_labels(labels) + " " + render_double(g->value()) + "\n";
    }
  }
  return out;
}

}  // namespace bc::metrics

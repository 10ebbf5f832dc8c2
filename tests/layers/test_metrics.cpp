#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "layers/metrics.hpp"

using bc::metrics::Registry;

TEST_CASE("metrics: counters and gauges are created once and keep their address") {
  Registry r;
  auto& c = r.counter("bc_test_total", "Test counter.");
  c.inc();
  c.inc(4);
  CHECK(&r.counter("bc_test_total", "ignored") == &c);
  CHECK(r.counter_value("bc_test_total") == 5);
  CHECK(r.counter_value("bc_missing_total") == 0);
  auto& labelled = r.counter("bc_test_total", "", {{"reason", "bad"}});
  CHECK(&labelled != &c);
  labelled.inc(2);
  CHECK(r.counter_value("bc_test_total", {{"reason", "bad"}}) == 2);
  CHECK(r.counter_value("bc_test_total", {{"reason", "other"}}) == 0);

  auto& g = r.gauge("bc_peers", "Peers.");
  g.set(3);
  g.add(1.5);
  g.add(-0.5);
  CHECK(g.value() == doctest::Approx(4.0));
  // Many more metrics must not move existing ones.
  for (int i = 0; i < 1000; ++i) r.counter("bc_many_total", "", {{"i", std::to_string(i)}}).inc();
  CHECK(&r.counter("bc_test_total", "") == &c);
  CHECK(c.value() == 5);
}

TEST_CASE("metrics: bad names and type clashes are rejected") {
  Registry r;
  CHECK_THROWS_AS(r.counter("1abc", ""), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("", ""), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("bad-name", ""), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("ok_total", "", {{"bad-label", "x"}}), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("ok_total", "", {{"__reserved", "x"}}), std::invalid_argument);
  r.counter("bc_x_total", "");
  CHECK_THROWS_WITH_AS(r.gauge("bc_x_total", ""), doctest::Contains("already registered as a counter"), std::invalid_argument);
  r.gauge("bc_g", "");
  CHECK_THROWS_AS(r.counter("bc_g", ""), std::invalid_argument);
  CHECK_NOTHROW(r.counter("ns:sub_total", ""));
}

TEST_CASE("metrics: Prometheus text format 0.0.4 with sorted families and escaping") {
  Registry r;
  r.gauge("bc_zeta", "Last family.").set(0.25);
  r.counter("bc_alpha_total", "First family,\nwith a newline and a \\ backslash.").inc(7);
  r.counter("bc_mid_total", "Labelled.", {{"path", "a\\b"}, {"msg", "say \"hi\"\nbye"}}).inc(2);
  r.counter("bc_mid_total", "Labelled.", {{"path", "plain"}, {"msg", "x"}});
  const std::string expected =
      "# HELP bc_alpha_total First family,\\nwith a newline and a \\\\ backslash.\n"
      "# TYPE bc_alpha_total counter\n"
      "bc_alpha_total 7\n"
      "# HELP bc_mid_total Labelled.\n"
      "# TYPE bc_mid_total counter\n"
      "bc_mid_total{path=\"a\\\\b\",msg=\"say \\\"hi\\\"\\nbye\"} 2\n"
      "bc_mid_total{path=\"plain\",msg=\"x\"} 0\n"
      "# HELP bc_zeta Last family.\n"
      "# TYPE bc_zeta gauge\n"
      "bc_zeta 0.25\n";
  CHECK(r.render_prometheus() == expected);
}

TEST_CASE("metrics: concurrent increments are not lost") {
  Registry r;
  auto& c = r.counter("bc_concurrent_total", "");
  auto& g = r.gauge("bc_concurrent", "");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        g.add(1);
      }
    });
  for (int i = 0; i < 20; ++i) (void)r.render_prometheus();  // render while updating
  for (auto& t : threads) t.join();
  CHECK(c.value() == 40000);
  CHECK(g.value() == doctest::Approx(40000));
}

"""Latency summary shared by the benchmark's Python parts.

Percentiles use the nearest-rank method (the value at rank ceil(q*n)), the
same definition bc_dht_client.cpp uses, so both sides are summarised alike.
"""
import math


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(lat_ms, failures, ops, seconds):
    v = sorted(lat_ms)
    return {
        "ops": ops,
        "completed": len(v),
        "failures": failures,
        "seconds": seconds,
        # Successful operations per second: a system cannot gain by failing fast.
        "ops_per_s": (ops - failures) / seconds if seconds > 0 else 0.0,
        "p50_ms": percentile(v, 0.50),
        "p90_ms": percentile(v, 0.90),
        "p99_ms": percentile(v, 0.99),
        "mean_ms": sum(v) / len(v) if v else float("nan"),
        "max_ms": v[-1] if v else float("nan"),
    }

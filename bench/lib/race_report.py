#!/usr/bin/env python3
"""The overhead race report (bench/race.sh): one table per mode and connection count, every target side by side.

Usage: race_report.py OUT_DIR

Reads the raw data that bench/run.sh leaves in OUT_DIR (results.tsv, rss.tsv, meta.env, checks.txt) plus what
bench/race.sh adds (metrics.<target>.txt: the gateway's /metrics after the load; race.env: the command and the
PostgreSQL row count). Medians over rounds; "x nginx" / "x portkey" are medians of per-round ratios (same round,
same cell); "added" latency is target minus direct in the same round.
"""
import pathlib
import re
import sys
from collections import defaultdict

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from report import MODE_TITLES, Results, fmt, fmt_ratio, load_results, read_meta  # noqa: E402


def histogram_quantiles(text, name, qs=(0.5, 0.99)):
    """Quantiles of a Prometheus histogram summed over all label sets (linear within a bucket, as
    histogram_quantile() does). Returns {q: seconds} and the count, or None if the metric is absent."""
    buckets = defaultdict(float)
    count = 0.0
    for line in text.splitlines():
        if line.startswith(name + "_bucket{"):
            m = re.search(r'le="([^"]+)"\}\s+(\S+)', line)
            if m:
                le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
                buckets[le] += float(m.group(2))
        elif line.startswith(name + "_count"):
            count += float(line.split()[-1])
    if not buckets or count <= 0:
        return None, 0
    edges = sorted(buckets)
    out = {}
    for q in qs:
        rank = q * count
        prev_le, prev_c = 0.0, 0.0
        for le in edges:
            c = buckets[le]
            if c >= rank:
                if le == float("inf"):
                    out[q] = prev_le
                else:
                    out[q] = prev_le + (le - prev_le) * ((rank - prev_c) / (c - prev_c) if c > prev_c else 1.0)
                break
            prev_le, prev_c = le, c
    return out, int(count)


def main():
    out = pathlib.Path(sys.argv[1])
    res = Results(load_results(out / "results.tsv"))
    meta = read_meta(out)
    race = {}
    if (out / "race.env").exists():
        for line in (out / "race.env").read_text().splitlines():
            k, _, v = line.partition("=")
            race[k] = v
    has_nginx = "nginx" in res.targets
    has_portkey = "portkey" in res.targets
    has_direct = "direct" in res.targets

    p = print
    p(f"### Overhead race of {meta.get('date', '?')}")
    p()
    p(f"- Command: `{race.get('command', '?')}`")
    p(f"- Machine: {meta.get('cpu', '?')}, {meta.get('kernel', '?')}; load average at start {meta.get('loadavg_at_start', '?')}"
      + (f", at end {race['loadavg_end']}" if race.get("loadavg_end") else ""))
    p(f"- Software: {meta.get('nginx', '?')}, wrk {meta.get('wrk', '?')}, gateway {meta.get('gateway', '?')}, "
      f"git {meta.get('git', '?')}; Portkey {race.get('portkey', '?')} on node {race.get('node', '?')}; "
      f"PostgreSQL {race.get('postgres', '?')}")
    p(f"- Pinning: {meta.get('pinning', '?')}; Portkey is one node process on the proxy core; PostgreSQL "
      f"(gateway-postgres's backend) on the load core")
    p(f"- {len(res.rounds)} interleaved round(s) of {race.get('duration', '?')} per cell; medians over rounds; "
      "`x` columns are medians of per-round ratios; `added` = target minus direct in the same round.")
    p()
    for mode in res.modes:
        p(f"#### {MODE_TITLES.get(mode, mode)}")
        p()
        head = ["conns", "target", "req/s"]
        if has_nginx:
            head.append("x nginx")
        if has_portkey:
            head.append("x portkey")
        head += ["p50 µs", "p99 µs", "p99.9 µs"]
        if has_direct:
            head += ["added p50", "added p99", "added p99.9"]
        head.append("CPU µs/req")
        if has_nginx:
            head.append("x nginx")
        if has_portkey:
            head.append("x portkey")
        head.append("errors")
        p("| " + " | ".join(head) + " |")
        p("|" + "---|" * len(head))
        for c in res.conns:
            for t in res.targets:
                cells = [str(c), t, fmt(res.median(t, mode, c, "rps"))]
                if has_nginx:
                    cells.append(fmt_ratio(res.ratio(t, "nginx", mode, c, "rps")))
                if has_portkey:
                    cells.append(fmt_ratio(res.ratio(t, "portkey", mode, c, "rps")))
                cells += [fmt(res.median(t, mode, c, k)) for k in ("p50_us", "p99_us", "p999_us")]
                if has_direct:
                    cells += ["—" if t == "direct" else fmt(res.added(t, mode, c, k))
                              for k in ("p50_us", "p99_us", "p999_us")]
                cpu = res.median(t, mode, c, "proxy_cpu_us_per_req")
                cells.append(fmt(cpu, 1))
                if has_nginx:
                    cells.append("—" if cpu is None else fmt_ratio(res.ratio(t, "nginx", mode, c, "proxy_cpu_us_per_req")))
                if has_portkey:
                    cells.append("—" if cpu is None else fmt_ratio(res.ratio(t, "portkey", mode, c, "proxy_cpu_us_per_req")))
                errs = sum(r["errors"] for r in res.rows if r["target"] == t and r["mode"] == mode and r["conns"] == c)
                dropped = sum(r["telemetry_dropped"] for r in res.rows
                              if r["target"] == t and r["mode"] == mode and r["conns"] == c)
                cells.append(str(errs) + (f" (telemetry dropped {dropped})" if dropped else ""))
                p("| " + " | ".join(cells) + " |")
        p()

    p("#### Peak memory over the whole race (VmHWM of the measured process)")
    p()
    p("| target | peak RSS MB | RSS at end MB |")
    p("|---|---|---|")
    rss = out / "rss.tsv"
    if rss.exists():
        for line in rss.read_text().splitlines()[1:]:
            t, hwm, cur = line.split("\t")
            p(f"| {t} | {int(hwm) / 1024:.1f} | {int(cur) / 1024:.1f} |")
    p()

    metrics = sorted(out.glob("metrics.*.txt"))
    if metrics:
        p("#### In-product overhead metric (`ai_gateway_overhead_seconds`, all requests of the race)")
        p()
        p("| target | requests observed | p50 µs | p99 µs |")
        p("|---|---|---|---|")
        for path in metrics:
            t = path.name[len("metrics."):-len(".txt")]
            qs, n = histogram_quantiles(path.read_text(), "ai_gateway_overhead_seconds")
            if qs:
                p(f"| {t} | {n:,} | {qs[0.5] * 1e6:.0f} | {qs[0.99] * 1e6:.0f} |")
            else:
                p(f"| {t} | — | — | — |")
        p()
        p("Quantiles are interpolated within the histogram's buckets (as `histogram_quantile()` does), so they "
          "are only as fine as the buckets.")
        p()
    if race.get("postgres_rows"):
        p(f"PostgreSQL check: {race['postgres_rows']} rows in `ai_gateway_logs` after the race, for "
          f"{race.get('postgres_requests', '?')} requests sent to gateway-postgres (wrk runs, warm-up and checks; "
          "wrk's count excludes requests cut off at the end of a run).")
        p()
    checks = out / "checks.txt"
    if checks.exists():
        p("Correctness checks before measuring:")
        p()
        for line in checks.read_text().splitlines():
            p(f"- {line}")
        p()


if __name__ == "__main__":
    main()

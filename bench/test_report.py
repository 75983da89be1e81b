#!/usr/bin/env python3
"""Checks bench/report.py's merge of rounds on hand-made results: no benchmark runs here.

usage: test_report.py   (exit status 0 when every check holds; standard library only)
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAILED: {what}", file=sys.stderr)


def close(a, b):
    return a is not None and abs(a - b) < 1e-9


def bench(framework, rows, kind="train"):
    return {"bench": kind, "framework": framework, "blas_core": "Zen", "threads": 2, "rows": rows}


def row(name, ms, peak=None, gflops=None, **extra):
    return dict({"name": name, "ms": ms, "gflops": gflops, "peak_mb": peak, "ops": 0, "gbps": None}, **extra)


def run(tmp, heed_rounds, torch_rounds, kind="train"):
    paths = []
    for who, rounds in (("heed", heed_rounds), ("torch", torch_rounds)):
        for k, rows in enumerate(rounds):
            p = os.path.join(tmp, f"{who}_{k}.json")
            with open(p, "w") as f:
                json.dump(bench(who, rows, kind), f)
            paths.append(p)
    heed_paths, torch_paths = paths[:len(heed_rounds)], paths[len(heed_rounds):]
    out = os.path.join(tmp, "latest.json")
    args = [sys.executable, os.path.join(HERE, "report.py"), out, *heed_paths]
    if torch_paths:
        args += ["--torch", *torch_paths]
    done = subprocess.run(args, capture_output=True, text=True)
    check(done.returncode == 0, f"report.py exits 0 (stderr: {done.stderr})")
    with open(out) as f:
        return {r["name"]: r for r in json.load(f)}, done.stdout


def main():
    with tempfile.TemporaryDirectory() as tmp:
        # Three rounds. Row "a": heed 10, 20, 12 ms; torch 15, 40, 30 ms. The rounds' ratios are 1.5, 2.0 and
        # 2.5: their median is 2.0, while the ratio of the medians (30 / 12) would be 2.5.
        heed = [[row("a", 10, peak=5.0, gflops=1.0, cache_hit_pct=99.0), row("b", 4)],
                [row("a", 20, peak=7.0, gflops=3.0, cache_hit_pct=97.0)],  # "b" missing in this round
                [row("a", 12, peak=6.0, gflops=2.0, cache_hit_pct=98.0), row("b", 8)]]
        torch = [[row("a", 15, peak=9.0), row("b", 8)],
                 [row("a", 40), row("b", 1000)],
                 [row("a", 30), row("b", 8)]]
        merged, text = run(tmp, heed, torch)
        a, b = merged["a"], merged["b"]
        check(close(a["heed_ms"], 12) and close(a["torch_ms"], 30), "times are the medians over the rounds")
        check(close(a["ratio"], 2.0), f"the ratio is the median of the paired ratios, 2.0 (got {a['ratio']})")
        check(close(a["gflops"], 2.0), "GFLOP/s is the median over the rounds")
        check(close(a["peak_mb_heed"], 7.0) and close(a["peak_mb_torch"], 9.0), "peak memory is the largest seen")
        check("1.50-2.50" in text, "the table shows the range of the rounds' ratios")
        check("97.00" in text, "the cache hit rate is the lowest of the rounds")
        # "b" ran in heed's rounds 1 and 3 only: torch's round 2 (1000 ms) has no partner and is left out of
        # the ratios (2.0 and 1.0, median 1.5), though not out of torch's median time (8 ms).
        check(close(b["ratio"], 1.5), f"a round without heed's row gives no ratio (got {b['ratio']})")
        check(close(b["heed_ms"], 6) and close(b["torch_ms"], 8), "a missing round is left out of the median")

        # One round: exactly torch_ms / heed_ms, as before rounds existed.
        merged, _ = run(tmp, [[row("a", 4)]], [[row("a", 6)]])
        check(close(merged["a"]["ratio"], 1.5), "one round: ratio = torch_ms / heed_ms")

        # No torch: no ratio, no range.
        merged, text = run(tmp, heed, [])
        check(merged["a"]["ratio"] is None and merged["a"]["torch_ms"] is None, "without torch the ratio is null")

        # The heed-only benches have tables of their own, not the per-op overhead one.
        _, text = run(tmp, [[row("loader/x", 0.017), row("train/char_lm step", 350.0)]], [], kind="loader")
        check("DataLoader batches" in text and "us/op" not in text and "0.0170" in text, "bench_loader's table")
        _, text = run(tmp, [[row("text/bpe encode", 27.7, gbps=0.0379)]], [], kind="text")
        check("tokenizers over 1 MiB" in text and "37.9" in text and "us/op" not in text, "bench_text's table, in MB/s")
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("report.py: every check holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())

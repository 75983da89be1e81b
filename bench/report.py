#!/usr/bin/env python3
"""Merges the JSON written by heed's bench binaries and bench/torch_overhead.py (all from one run of
bench/run.sh), prints one table per bench, and writes latest.json: a list of
{name, heed_ms, torch_ms, ratio, gflops, peak_mb_heed, peak_mb_torch}, where ratio = torch_ms / heed_ms
(> 1: heed is faster; the median of the rounds' ratios when there are rounds; null without torch) and peak_mb_* is the MiB held by tensors at the peak of one
iteration beyond what was held before it (heed::memory_stats; torch.profiler's memory events, see
torch_overhead.py's peak_mb). Rows named ".../cblas" are the raw cblas_sgemm call timed inside
bench_matmul: their heed_ms is BLAS's time, the reference heed's matmul is compared with.

A bench given more than once (run.sh's rounds, heed's and torch's processes alternating) is merged
row by row: times, GFLOP/s and GB/s are the median over the rounds, peak memory the largest seen, the
cache hit rate the lowest; the ratio is the median of the rounds' own ratios (heed's round k against
torch's round k, files in the order given), and the tables show the range of those ratios.

usage: report.py OUT_JSON HEED_JSON... [--torch TORCH_JSON...]
Standard library only: any python3 will do.
"""
import json
import statistics
import sys

# OpenBLAS kernels without AVX2 (what 0.3.21 falls back to on CPUs it does not know), in case the
# heed binaries' own advice (blas_advice) is missing.
SLOW_CORES = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Sandybridge", "Katmai", "Coppermine",
              "Northwood", "Opteron", "Barcelona", "Bulldozer", "Piledriver", "Steamroller", "Excavator", "unknown"}


def load(path):
    with open(path) as f:
        data = json.load(f)
    return data if isinstance(data, list) else [data]


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def by_bench(benches):
    """{bench name: [its objects, one per round, in order]}, in order of first appearance."""
    out = {}
    for b in benches:
        out.setdefault(b["bench"], []).append(b)
    return out


def merge_rows(rounds):
    """One row per name over a bench's rounds (see the module's docstring); `ms_rounds` keeps each round's
    time (None where a round lacks the row) for the paired ratios."""
    def med(vals):
        vals = [v for v in vals if v is not None]
        return statistics.median(vals) if vals else None

    def agg(rows, key, f):
        vals = [r.get(key) for r in rows if r.get(key) is not None]
        return f(vals) if vals else None

    merged = []
    for first in rounds[0]["rows"]:
        name = first["name"]
        rows = [next((r for r in b["rows"] if r["name"] == name), None) for b in rounds]
        present = [r for r in rows if r is not None]
        m = dict(first)
        m["ms"] = med([r["ms"] for r in present])
        for key in ("gflops", "gbps", "allocs_per_iter"):
            m[key] = agg(present, key, statistics.median)
        m["peak_mb"] = agg(present, "peak_mb", max)
        m["cache_hit_pct"] = agg(present, "cache_hit_pct", min)
        m["ms_rounds"] = [r["ms"] if r else None for r in rows]
        merged.append(m)
    return merged


def paired_ratios(heed_row, torch_row):
    """torch's time over heed's in each round both ran: the median, lowest and highest, or Nones."""
    if torch_row is None:
        return None, None, None
    pairs = [t / h for h, t in zip(heed_row["ms_rounds"], torch_row["ms_rounds"]) if h and t is not None]
    if not pairs:
        return None, None, None
    return statistics.median(pairs), min(pairs), max(pairs)


def fmt_range(lo, hi):
    return "-" if lo is None else f"{lo:.2f}-{hi:.2f}"


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out_path, rest = argv[1], argv[2:]
    torch_paths = []
    if "--torch" in rest:
        i = rest.index("--torch")
        rest, torch_paths = rest[:i], rest[i + 1:]
    heed = []
    for rounds in by_bench([b for p in rest for b in load(p)]).values():
        heed.append(dict(rounds[0], rows=merge_rows(rounds), rounds=len(rounds)))
    torch = {name: dict(rounds[0], rows=merge_rows(rounds), rounds=len(rounds))
             for name, rounds in by_bench([b for p in torch_paths for b in load(p)]).items()}

    # The machine's fp32 peak as this run measured it: the best raw cblas_sgemm rate of bench_matmul
    # (large square products). The training and attention rows give their GFLOP/s as a share of it.
    blas_rows = [r for b in heed if b["bench"] == "matmul" for r in b["rows"]
                 if r["name"].endswith("/cblas") and r["gflops"]]
    peak = max(blas_rows, key=lambda r: r["gflops"]) if blas_rows else None
    peak_gflops = peak["gflops"] if peak else None

    def pct(g):
        return g / peak_gflops * 100 if g is not None and peak_gflops else None

    merged = []
    for b in heed:
        t = torch.get(b["bench"])
        trows = {r["name"]: r for r in t["rows"]} if t else {}
        print()
        if b["bench"] == "matmul":
            print(f"matmul, float32, {b['threads']} threads, OpenBLAS kernel {b['blas_core']}"
                  + (f" (torch: {t['threads']} threads, {t['blas_core']})" if t else ""))
            print(f"{'case':<46} {'heed':>8} {'OpenBLAS':>9} {'torch':>8}   {'heed vs BLAS':>12} {'torch/heed':>10} {'range':>10}")
            print(f"{'':<46} {'GFLOP/s':>8} {'GFLOP/s':>9} {'GFLOP/s':>8}   {'overhead':>12} {'time':>10} {'':>10}")
        elif b["bench"] == "train":
            print(f"training steps, float32, {b['threads']} threads" + (f" (torch: {t['threads']})" if t else ""))
            print(f"{'workload':<40} {'heed ms':>9} {'torch ms':>9} {'torch/heed':>10} {'range':>10} {'heed GFLOP/s':>12} "
                  f"{'% of peak':>9} {'heed peak MiB':>14} {'torch peak MiB':>14} {'heed cache hit %':>16}")
        elif b["bench"] == "ops":
            print(f"large ops, forward + backward, float32, {b['threads']} threads"
                  + (f" (torch: {t['threads']})" if t else ""))
            print(f"{'op':<42} {'heed ms':>9} {'torch ms':>9} {'torch/heed':>10} {'range':>10} {'heed GB/s':>9} {'torch GB/s':>10} "
                  f"{'heed peak MiB':>14} {'torch peak MiB':>14}")
        elif b["bench"] == "generate":
            print(f"generation, TransformerLM at tiny_gpt's size, batch 1, {b['threads']} threads"
                  + (f" (torch: {t['threads']}, its own preallocated cache)" if t else ""))
            print(f"{'workload':<40} {'heed ms':>9} {'torch ms':>9} {'torch/heed':>10} {'range':>10} {'heed tok/s':>10} "
                  f"{'torch tok/s':>11}")
        elif b["bench"] == "attention":
            print(f"attention forward + backward, long sequences, float32, {b['threads']} threads (heed only)")
            print(f"{'workload':<46} {'heed ms':>9} {'GFLOP/s':>9} {'% of peak':>9} {'heed peak MiB':>14}")
        elif b["bench"] == "loader":
            print(f"DataLoader batches and the char_lm step they feed, {b['threads']} threads (heed only)")
            print(f"{'workload':<46} {'heed ms':>9}")
        elif b["bench"] == "text":
            print("text: tokenizers over 1 MiB, 1 thread (heed only)")
            print(f"{'workload':<46} {'heed ms':>9} {'MB/s':>9}")
        else:
            print(f"per-op overhead, (4,) float32, {b['threads']} threads" + (f" (torch: {t['threads']})" if t else ""))
            print(f"{'loop':<50} {'ops':>4} {'heed us/op':>10} {'torch us/op':>11} {'torch/heed':>10} {'range':>10}")
        rows = {r["name"]: r for r in b["rows"]}
        for r in b["rows"]:
            tr = trows.get(r["name"])
            torch_ms = tr["ms"] if tr else None
            ratio, lo, hi = paired_ratios(r, tr)
            spread = fmt_range(lo, hi)
            merged.append({"name": r["name"], "heed_ms": r["ms"], "torch_ms": torch_ms, "ratio": ratio,
                           "gflops": r["gflops"], "peak_mb_heed": r["peak_mb"],
                           "peak_mb_torch": tr["peak_mb"] if tr else None})
            if r["name"].endswith("/cblas"):
                continue
            if b["bench"] == "matmul":
                blas = rows.get(r["name"] + "/cblas")
                overhead = (r["ms"] / blas["ms"] - 1) * 100 if blas else None
                print(f"{r['name']:<46} {r['gflops']:>8.1f} {fmt(blas and blas['gflops'], '>9.1f'):>9} "
                      f"{fmt(tr and tr['gflops'], '>8.1f'):>8}   {fmt(overhead, '>+11.1f'):>11}% "
                      f"{fmt(ratio, '>10.2f'):>10} {spread:>10}")
            elif b["bench"] == "train":
                print(f"{r['name']:<40} {r['ms']:>9.2f} {fmt(torch_ms, '>9.2f'):>9} {fmt(ratio, '>10.2f'):>10} {spread:>10} "
                      f"{fmt(r['gflops'], '>12.1f'):>12} {fmt(pct(r['gflops']), '>9.0f'):>9} "
                      f"{fmt(r['peak_mb'], '>14.1f'):>14} {fmt(tr and tr['peak_mb'], '>14.1f'):>14} "
                      f"{fmt(r.get('cache_hit_pct'), '>16.2f'):>16}")
            elif b["bench"] == "ops":
                print(f"{r['name']:<42} {r['ms']:>9.2f} {fmt(torch_ms, '>9.2f'):>9} {fmt(ratio, '>10.2f'):>10} {spread:>10} "
                      f"{fmt(r.get('gbps'), '>9.1f'):>9} {fmt(tr and tr.get('gbps'), '>10.1f'):>10} "
                      f"{fmt(r['peak_mb'], '>14.1f'):>14} {fmt(tr and tr['peak_mb'], '>14.1f'):>14}")
            elif b["bench"] == "generate":  # ms per new token (per step of the beam, per step at a position)
                print(f"{r['name']:<40} {r['ms']:>9.4f} {fmt(torch_ms, '>9.4f'):>9} {fmt(ratio, '>10.2f'):>10} {spread:>10} "
                      f"{1e3 / r['ms']:>10.0f} {fmt(torch_ms and 1e3 / torch_ms, '>11.0f'):>11}")
            elif b["bench"] == "attention":
                print(f"{r['name']:<46} {r['ms']:>9.2f} {fmt(r['gflops'], '>9.1f'):>9} "
                      f"{fmt(pct(r['gflops']), '>9.0f'):>9} {fmt(r['peak_mb'], '>14.1f'):>14}")
            elif b["bench"] == "loader":
                print(f"{r['name']:<46} {r['ms']:>9.4f}")
            elif b["bench"] == "text":  # gbps holds the text's bytes over the time
                print(f"{r['name']:<46} {r['ms']:>9.2f} {fmt(r.get('gbps') and r['gbps'] * 1e3, '>9.1f'):>9}")
            else:
                ops = r["ops"] or 1
                print(f"{r['name']:<50} {ops:>4} {r['ms'] * 1e3 / ops:>10.3f} "
                      f"{fmt(torch_ms and torch_ms * 1e3 / ops, '>11.3f'):>11} {fmt(ratio, '>10.2f'):>10} {spread:>10}")
    if peak:
        print(f"\n% of peak: of {peak_gflops:.1f} GFLOP/s, the fastest raw cblas_sgemm of this run "
              f"({peak['name'][:-len('/cblas')]}), the machine's fp32 peak as BLAS reaches it")
    warnings = set()
    for b in heed:
        if b.get("blas_advice"):
            warnings.add(f"WARNING: matmul ran on slower kernels than this CPU supports: {b['blas_advice']}")
        elif b["blas_core"] in SLOW_CORES:
            warnings.add(f"WARNING: OpenBLAS runs its generic {b['blas_core']} kernels: set OPENBLAS_CORETYPE=Haswell "
                         "(AVX2) or SkylakeX (AVX-512) before running")
    for w in sorted(warnings):
        print(w)
    if torch:
        for b in heed:
            t = torch.get(b["bench"])
            if t and t["blas_core"] != b["blas_core"]:
                print(f"WARNING: heed ran on OpenBLAS {b['blas_core']} but torch on {t['blas_core']}")
    with open(out_path, "w") as f:
        json.dump(merged, f, indent=1)
        f.write("\n")
    print(f"\nwrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

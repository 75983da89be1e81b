#!/usr/bin/python3
"""PyTorch's side of heed's benchmarks: the same loops, sizes and harness as bench_overhead.cpp,
bench_matmul.cpp, bench_train.cpp, bench_ops.cpp and bench_generate.cpp (torch_generate.py), so bench/run.sh can put heed, raw OpenBLAS and
PyTorch in one table.

Run with /usr/bin/python3 (Debian's python3-torch). A measurement is the median, over --repeats
blocks of about --block-seconds each, of the time per call within a block (time.perf_counter, a
monotonic clock). Each row's peak_mb comes from one more call, untimed, under the profiler (peak_mb
below). Writes {"bench", "framework", "blas_core", "threads", "rows": [...]} per bench into --json
as a list, in the layout of the heed binaries.
"""
import argparse
import ctypes
import json
import statistics
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile, record_function

CHAIN = 100
PEAK_MARK = "heed_bench/peak_mb primer"


def calibrate(f, block_seconds):
    calls, t0 = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - t0 < block_seconds:
        f()
        calls += 1
    per_call = (time.perf_counter() - t0) / calls
    return max(1, int(block_seconds / per_call))


def measure(f, opt):
    iters = calibrate(f, opt.block_seconds)
    times = []
    for _ in range(opt.repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            f()
        times.append((time.perf_counter() - t0) / iters)
    return statistics.median(times)


def peak_mb(f, opt):
    """MiB held by tensors at the peak of one call of f beyond what was held just before it: heed's
    peak_mb (heed::memory_stats) for PyTorch, whose CPU allocator keeps no statistics of its own.

    f runs twice under torch.profiler with profile_memory=True, which reports every allocation and
    every free of a block it saw allocated (alloc_size > 0 or < 0, with a ns timestamp, from any
    thread). The first call, inside a record_function range, makes the second one's frees visible (a
    block allocated before the profiler started is freed without an event) and marks where the second
    call starts: the range's end (the range's own small allocations fall inside it). Walking the
    events in time order, the peak of bytes held minus bytes held when the second call started, at
    least 0. Exact to the byte on hand-counted cases (a (1000, 1000) float32 matmul: 4,000,000).
    None when this PyTorch's profiler does not give the events (the tables then show "-"), and
    without calling f under --no-peak (bench/run.sh's later rounds: the figure does not change)."""
    if opt.no_peak:
        return None
    try:
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            with record_function(PEAK_MARK):
                f()
            f()
        nodes, stack = [], list(prof.profiler.kineto_results.experimental_event_tree())
        while stack:
            n = stack.pop()
            nodes.append(n)
            stack.extend(n.children)
        (mark,) = [n for n in nodes if n.name == PEAK_MARK]
        events = sorted((n.start_time_ns, n.extra_fields.alloc_size) for n in nodes if n.name == "[memory]")
    except (AttributeError, ValueError) as e:
        print(f"torch_overhead.py: no memory events from torch.profiler ({e}): peak_mb is null", file=sys.stderr)
        return None
    held = base = peak = 0
    for t, nbytes in events:
        held += nbytes
        if t <= mark.end_time_ns:
            base = held
        else:
            peak = max(peak, held - base)
    return peak / 2**20


def blas_core():
    """The OpenBLAS kernel torch's BLAS calls land in (torch links libblas.so.3 -> OpenBLAS on Debian)."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return "unknown"


def fmt_opt(v, spec):
    return "-" if v is None else format(v, spec)


def row(name, seconds, gflops=None, ops=0, peak=None, gbps=None):
    return {"name": name, "ms": seconds * 1e3, "gflops": gflops, "peak_mb": peak, "ops": ops, "gbps": gbps}


def bench_matmul(opt):
    g = torch.Generator().manual_seed(0)
    randn = lambda *shape: torch.randn(*shape, generator=g)
    cases = [(f"matmul/n={n}", randn(n, n), randn(n, n), False, n, n, n) for n in (64, 128, 256, 512, 1024, 2048)]
    cases.append(("matmul/batched (32,64,256)x(256,1024)", randn(32, 64, 256), randn(256, 1024), False,
                  32 * 64, 1024, 256))
    cases.append(("matmul/transposed (2048,256)x(1024,256).t()", randn(2048, 256), randn(1024, 256), True,
                  2048, 1024, 256))
    rows = []
    print(f"{'case':<46} {'torch GFLOP/s':>13}")
    for name, a, b, trans_b, m, n, k in cases:
        if opt.filter not in name:
            continue
        f = (lambda a=a, b=b: a @ b.t()) if trans_b else (lambda a=a, b=b: a @ b)
        t = measure(f, opt)
        gflops = 2.0 * m * n * k / t / 1e9
        print(f"{name:<46} {gflops:>13.1f}")
        rows.append(row(name, t, gflops, peak=peak_mb(f, opt)))
    return rows


def bench_overhead(opt):
    a = torch.randn(4, requires_grad=True)
    b = torch.full((4,), 0.5)

    def chain():
        x = a
        for k in range(CHAIN):
            x = x * b if k % 2 == 0 else x + b
        return x.sum()

    def mul_sum_backward():
        c = a * b
        c.sum().backward()

    def chain_backward():
        chain().backward()

    def chain_no_grad():
        with torch.no_grad():
            chain()

    loops = [
        ("overhead/mul+sum+backward", 2, mul_sum_backward),
        (f"overhead/chain of {CHAIN} ops+sum+backward", CHAIN + 1, chain_backward),
        (f"overhead/chain of {CHAIN} ops+sum forward, grad on", CHAIN + 1, chain),
        (f"overhead/chain of {CHAIN} ops+sum forward, grad off", CHAIN + 1, chain_no_grad),
    ]
    rows = []
    print(f"{'loop':<50} {'us per iter':>12} {'us per op':>10}")
    for name, ops, f in loops:
        if opt.filter not in name:
            continue
        t = measure(f, opt)
        print(f"{name:<50} {t * 1e6:>12.2f} {t * 1e6 / ops:>10.3f}")
        rows.append(row(name, t, ops=ops, peak=peak_mb(f, opt)))
    return rows


def bench_train(opt):
    """One training step of the models of bench_train.cpp: same sizes, optimizers, no dropout."""
    torch.manual_seed(0)
    nn = torch.nn

    def mlp(sizes):
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i + 2 < len(sizes):
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    class LM(nn.Module):
        def __init__(self, gru):
            super().__init__()
            self.emb = nn.Embedding(100, 64)
            self.rnn = (nn.GRU if gru else nn.LSTM)(64, 256, batch_first=True)
            self.head = nn.Linear(256, 100)

        def forward(self, ids):
            return self.head(self.rnn(self.emb(ids))[0])

    class Seq2Seq(nn.Module):
        """examples/seq2seq_attention.cpp's model, as bench_train.cpp's Seq2Seq: additive attention."""

        def __init__(self, src_vocab=69, tgt_vocab=14, embed=32, hidden=128):
            super().__init__()
            self.src_emb = nn.Embedding(src_vocab, embed, padding_idx=0)
            self.encoder = nn.GRU(embed, hidden // 2, batch_first=True, bidirectional=True)
            self.init = nn.Linear(hidden, hidden)
            self.tgt_emb = nn.Embedding(tgt_vocab, embed)
            self.query_proj = nn.Linear(hidden, hidden, bias=False)
            self.key_proj = nn.Linear(hidden, hidden, bias=False)
            self.v = nn.Linear(hidden, 1, bias=False)
            self.decoder = nn.GRUCell(embed + hidden, hidden)
            self.out = nn.Linear(2 * hidden, tgt_vocab)

        def forward(self, src, lengths, mask, tgt_in):
            packed = nn.utils.rnn.pack_padded_sequence(self.src_emb(src), lengths, batch_first=True,
                                                       enforce_sorted=False)
            enc, h_n = self.encoder(packed)
            enc, _ = nn.utils.rnn.pad_packed_sequence(enc, batch_first=True, total_length=src.shape[1])
            state = torch.tanh(self.init(torch.cat([h_n[0], h_n[1]], 1)))
            features = []
            keys = self.key_proj(enc)  # W_k k, once for every step, as heed's prepare_keys
            for e in self.tgt_emb(tgt_in).unbind(1):
                # score = v(tanh(W_q q + W_k k)), padded keys at -inf, softmax, weighted sum of enc.
                scores = self.v(torch.tanh(self.query_proj(state)[:, None] + keys)).squeeze(-1)
                weights = torch.softmax(scores.masked_fill(mask, float("-inf")), -1)
                context = torch.bmm(weights[:, None], enc).squeeze(1)
                state = self.decoder(torch.cat([e, context], 1), state)
                features.append(torch.cat([state, context], 1))
            return self.out(torch.stack(features, 1))

    loads = []
    for name, sizes, batch, adam in [("train/mlp 64-64-64-10", [64, 64, 64, 10], 32, False),
                                     ("train/mlp 784-512-512-10", [784, 512, 512, 10], 128, True)]:
        m = mlp(sizes)
        o = torch.optim.Adam(m.parameters(), lr=1e-3) if adam else torch.optim.SGD(m.parameters(), lr=0.01)
        loads.append((name, m, o, (torch.randn(batch, sizes[0]),), torch.randint(0, sizes[-1], (batch,)), 0))
    for gru in (False, True):
        m = LM(gru)
        loads.append(("train/gru lm" if gru else "train/lstm lm", m, torch.optim.Adam(m.parameters(), lr=1e-3),
                      (torch.randint(0, 100, (32, 64)),), torch.randint(0, 100, (32, 64)), 0))
    # Source lengths 24 - (5 b mod 13), in 12..24, as in bench_train.cpp; <pad> 0 after each source.
    B, S, T = 32, 24, 12
    lengths = torch.tensor([S - (5 * b) % 13 for b in range(B)])
    mask = torch.arange(S)[None, :] >= lengths[:, None]
    src = torch.randint(1, 69, (B, S)).masked_fill(mask, 0)
    m = Seq2Seq()
    loads.append(("train/seq2seq attention", m, torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=1e-4),
                  (src, lengths, mask, torch.randint(0, 14, (B, T))), torch.randint(0, 14, (B, T)), 1.0))
    class TransformerLM(nn.Module):
        """heed::nn::TransformerLM as bench_train.cpp configures it: learned positions, pre-LN GELU layers with a
        final LayerNorm, causal, tied output; nn.TransformerEncoder."""

        def __init__(self, vocab=100, d=128, nhead=4, ff=512, layers=2, max_len=64):
            super().__init__()
            self.d = d
            self.embedding = nn.Embedding(vocab, d)
            self.pos_embedding = nn.Embedding(max_len, d)
            layer = nn.TransformerEncoderLayer(d, nhead, ff, dropout=0.0, activation="gelu", batch_first=True,
                                               norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d), enable_nested_tensor=False)
            self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(max_len))

        def forward(self, ids):
            T = ids.shape[1]
            x = self.embedding(ids) * self.d ** 0.5 + self.pos_embedding(torch.arange(T))
            h = self.encoder(x, mask=self.mask[:T, :T])
            return h @ self.embedding.weight.t()

    B, T, V, d, f, L = 32, 64, 100, 128, 512, 2
    m = TransformerLM(V, d, 4, f, L, T)
    macs = B * T * (L * (4 * d * d + 2 * d * f + 2 * T * d) + d * V)
    loads.append(("train/transformer lm", m, torch.optim.AdamW(m.parameters(), lr=1e-3),
                  (torch.randint(0, V, (B, T)),), torch.randint(0, V, (B, T)), 0, 6 * macs * 1e-9))
    B, T, d, f = 16, 64, 256, 1024
    m = nn.TransformerEncoderLayer(d, 4, f, dropout=0.0, batch_first=True)
    macs = B * T * (4 * d * d + 2 * d * f + 2 * T * d)
    loads.append(("train/transformer layer", m, torch.optim.Adam(m.parameters(), lr=1e-3), (torch.randn(B, T, d),),
                  None, 0, 6 * macs * 1e-9))
    rows = []
    print(f"{'workload':<40} {'ms per step':>12} {'peak MiB':>12} {'GFLOP/s':>10}")
    for name, m, o, x, y, clip_norm, *flop in loads:
        if opt.filter not in name:
            continue

        def step(m=m, o=o, x=x, y=y, clip_norm=clip_norm):
            o.zero_grad()
            out = m(*x)
            # y None: a regression stand-in, mean(out²), as bench_train.cpp.
            loss = (out.square().mean() if y is None else
                    torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1)))
            loss.backward()
            if clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(m.parameters(), clip_norm)
            o.step()

        step()  # optimizer state exists from here on
        t = measure(step, opt)
        peak = peak_mb(step, opt)
        gflops = flop[0] / t if flop else None
        print(f"{name:<40} {t * 1e3:>12.3f} {fmt_opt(peak, '.2f'):>12} {f'{gflops:.1f}' if gflops else '-':>10}")
        rows.append(row(name, t, gflops, peak=peak))
    return rows


def bench_ops(opt):
    """bench_ops.cpp's rows: forward + backward of one large op, then the inputs' gradients released."""
    torch.manual_seed(0)
    F = torch.nn.functional
    ops = []
    shape = (64, 4, 128, 128)
    n = 64 * 4 * 128 * 128
    x = torch.randn(shape, requires_grad=True)
    ops.append(("ops/softmax (64,4,128,128)", [x], lambda x=x: torch.softmax(x, -1), torch.randn(shape), 5 * 4 * n))
    # What attention does without a fused op: scale, masked_fill(-inf) at the causal mask, softmax.
    xm = torch.randn(shape, requires_grad=True)
    mask = torch.ones(128, 128, dtype=torch.bool).triu(1)
    scale = 1.0 / 32 ** 0.5
    ops.append(("ops/masked softmax (64,4,128,128) causal", [xm],
                lambda: torch.softmax((xm * scale).masked_fill(mask, float("-inf")), -1), torch.randn(shape), 5 * 4 * n))
    xd = torch.randn(shape, requires_grad=True)
    ops.append(("ops/attention block (64,4,128,128) p=0.1", [xd],
                lambda: F.dropout(torch.softmax((xd * scale).masked_fill(mask, float("-inf")), -1), 0.1, True),
                torch.randn(shape), 5 * 4 * n))
    N, D = 8192, 512
    xl = torch.randn(N, D, requires_grad=True)
    w, b = torch.ones(D, requires_grad=True), torch.zeros(D, requires_grad=True)
    ops.append(("ops/layer_norm (8192,512) affine", [xl, w, b], lambda: F.layer_norm(xl, (D,), w, b),
                torch.randn(N, D), 5 * 4 * N * D))
    N, C = 8192, 1000
    logits = torch.randn(N, C, requires_grad=True)
    target = torch.randint(0, C, (N,))
    ops.append(("ops/cross_entropy (8192,1000)", [logits], lambda: F.cross_entropy(logits, target), None,
                3 * 4 * N * C))
    NG, DG = 8192, 2048  # names of their own: the lambdas above read N and D when called
    xg = torch.randn(NG, DG, requires_grad=True)
    ops.append(("ops/gelu (8192,2048)", [xg], lambda: F.gelu(xg), torch.randn(NG, DG), 5 * 4 * NG * DG))
    xdr = torch.randn(NG, DG, requires_grad=True)
    ops.append(("ops/dropout (8192,2048) p=0.1", [xdr], lambda: F.dropout(xdr, 0.1, True), torch.randn(NG, DG),
                4 * 4 * NG * DG))
    rows = []
    print(f"{'op, forward + backward':<42} {'ms':>10} {'GB/s':>8} {'peak MiB':>10}")
    for name, leaves, forward, g, nbytes in ops:
        if opt.filter not in name:
            continue

        def step(leaves=leaves, forward=forward, g=g):
            forward().backward(g)
            for t in leaves:
                t.grad = None

        step()
        t = measure(step, opt)
        peak = peak_mb(step, opt)
        gbps = nbytes / t * 1e-9
        print(f"{name:<42} {t * 1e3:>10.3f} {gbps:>8.1f} {fmt_opt(peak, '.1f'):>10}")
        rows.append(row(name, t, peak=peak, gbps=gbps))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave torch's default)")
    p.add_argument("--block-seconds", type=float, default=0.02)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--quick", action="store_true", help="shorter blocks, 3 repeats")
    p.add_argument("--bench", choices=["matmul", "overhead", "train", "ops", "generate", "all"], default="all")
    p.add_argument("--filter", default="", help="run only the rows whose name contains this")
    p.add_argument("--json", default="")
    p.add_argument("--no-peak", action="store_true", help="skip the profiled calls: peak_mb is null")
    p.add_argument("--profile", type=int, default=0,
                   help="accepted so that HEED_BENCH_ARGS may carry bench_train's --profile; ignored here")
    opt = p.parse_args()
    if opt.quick:
        opt.block_seconds, opt.repeats = 0.01, 3
    if opt.threads > 0:
        torch.set_num_threads(opt.threads)
    threads = torch.get_num_threads()
    core = blas_core()
    print(f"PyTorch {torch.__version__}, OpenBLAS kernel {core} ({threads} threads)")
    out = []
    if opt.bench in ("overhead", "all"):
        out.append({"bench": "overhead", "framework": "torch", "blas_core": core, "threads": threads,
                    "rows": bench_overhead(opt)})
    if opt.bench in ("matmul", "all"):
        out.append({"bench": "matmul", "framework": "torch", "blas_core": core, "threads": threads,
                    "rows": bench_matmul(opt)})
    if opt.bench in ("train", "all"):
        out.append({"bench": "train", "framework": "torch", "blas_core": core, "threads": threads,
                    "rows": bench_train(opt)})
    if opt.bench in ("ops", "all"):
        out.append({"bench": "ops", "framework": "torch", "blas_core": core, "threads": threads,
                    "rows": bench_ops(opt)})
    if opt.bench in ("generate", "all"):
        import torch_generate  # bench_generate.cpp's model and loops, with a preallocated key/value cache

        out.append({"bench": "generate", "framework": "torch", "blas_core": core, "threads": threads,
                    "rows": torch_generate.bench_generate(opt, row)})
    if opt.json:
        with open(opt.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

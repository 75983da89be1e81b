"""PyTorch's side of bench_generate.cpp: the same model (heed::nn::TransformerLM at tiny_gpt's size: d_model 128,
4 heads, 3 pre-LN GELU layers with feed-forward 512 and a final LayerNorm, learned positions, tied output,
vocabulary 65), batch 1, with its own key/value cache preallocated at max_len (1280) and written in place, under
torch.inference_mode, and the same loops and row names:

  generate/greedy, prompt P, 1024 new   seconds per new token of a greedy generation (argmax of the last logits)
  generate/step at position p           the median step with p - 8 .. p + 7 positions cached, prompt 16
  generate/beam 4, prompt 16, 256 new   seconds per step of a beam-4 search without eos (the 4 best of the 4 x V
                                        extensions, the cache reordered with index_select on the beam dim)

Called by torch_overhead.py --bench generate; each run is timed once per repeat (a generation outlasts a block),
after one warm-up, and the median is reported, as bench_generate.cpp does.
"""
import statistics
import time

import torch
from torch import nn

VOCAB, D, HEADS, LAYERS, FF, MAX_LEN = 65, 128, 4, 3, 512, 256 + 1024
NEW, BEAM_NEW, WINDOW = 1024, 256, 8


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.in_proj = nn.Linear(D, 3 * D)
        self.out_proj = nn.Linear(D, D)
        self.linear1, self.linear2 = nn.Linear(D, FF), nn.Linear(FF, D)


class CachedLM(nn.Module):
    """x = emb(ids) sqrt(D) + pos; per layer x += attn(norm1 x), x += ff(norm2 x); logits = norm(x) embᵀ."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, D)
        self.pos_embedding = nn.Embedding(MAX_LEN, D)
        self.layers = nn.ModuleList(Block() for _ in range(LAYERS))
        self.norm = nn.LayerNorm(D)

    def new_cache(self, batch):
        hd = D // HEADS
        return [(torch.empty(batch, HEADS, MAX_LEN, hd), torch.empty(batch, HEADS, MAX_LEN, hd)) for _ in self.layers]

    def step(self, ids, cache, start):
        """ids (B, L) at positions start .. start + L - 1 -> logits (B, L, V); their keys and values into cache."""
        B, L = ids.shape
        S, hd = start + L, D // HEADS
        x = self.embedding(ids) * D ** 0.5 + self.pos_embedding.weight[start:S]
        mask = None
        if L > 1:  # bottom-right aligned causal mask
            mask = torch.ones(L, S, dtype=torch.bool).triu(start + 1)
        for blk, (kb, vb) in zip(self.layers, cache):
            q, k, v = blk.in_proj(blk.norm1(x)).view(B, L, 3, HEADS, hd).permute(2, 0, 3, 1, 4)
            kb[:, :, start:S] = k
            vb[:, :, start:S] = v
            scores = (q @ kb[:, :, :S].transpose(-2, -1)) * hd ** -0.5
            if mask is not None:
                scores = scores.masked_fill(mask, float("-inf"))
            o = (scores.softmax(-1) @ vb[:, :, :S]).transpose(1, 2).reshape(B, L, D)
            x = x + blk.out_proj(o)
            x = x + blk.linear2(torch.nn.functional.gelu(blk.linear1(blk.norm2(x))))
        return self.norm(x) @ self.embedding.weight.t()


def greedy(m, prompt, n, times=None):
    """prompt (B, T0) -> (B, T0 + n), the ids written into a preallocated result; times gets each step's seconds."""
    B, T0 = prompt.shape
    ids = torch.empty(B, T0 + n, dtype=torch.long)
    ids[:, :T0] = prompt
    cache, start, inp = m.new_cache(B), 0, prompt
    for t in range(n):
        t0 = time.perf_counter()
        logits = m.step(inp, cache, start)
        start += inp.shape[1]
        nxt = logits[:, -1].argmax(-1)
        ids[:, T0 + t] = nxt
        inp = nxt.view(B, 1)
        if times is not None:
            nxt.item()  # the step is done when its token is known, as heed's step reads it to the host
            times.append(time.perf_counter() - t0)
    return ids


def beam(m, prompt, n, k=4):
    """Beam search of width k without eos over n steps, as heed's beam_search (every row starts as the prompt)."""
    T0 = prompt.shape[1]
    cache, start = m.new_cache(k), 0
    inp = prompt.expand(k, T0)
    log_prob = torch.full((k,), float("-inf"))
    log_prob[0] = 0.0  # one live hypothesis at the start
    tokens = [[] for _ in range(k)]
    for _ in range(n):
        logp = torch.log_softmax(m.step(inp, cache, start)[:, -1], -1)  # (k, V)
        start += inp.shape[1]
        best = (log_prob[:, None] + logp).view(-1).topk(k)
        parent, token = best.indices // VOCAB, best.indices % VOCAB
        log_prob = best.values
        tokens = [tokens[p] + [t] for p, t in zip(parent.tolist(), token.tolist())]
        for i, (kb, vb) in enumerate(cache):  # keep the surviving rows: index_select on the beam dim
            nk, nv = torch.empty_like(kb), torch.empty_like(vb)
            nk[:, :, :start] = kb[:, :, :start].index_select(0, parent)
            nv[:, :, :start] = vb[:, :, :start].index_select(0, parent)
            cache[i] = (nk, nv)
        inp = token.view(k, 1)
    return tokens[0]


def bench_generate(opt, row):
    torch.manual_seed(0)
    m = CachedLM().eval()
    rows = []

    def report(name, seconds):
        print(f"{name:<44} {seconds * 1e3:>10.4f} {1 / seconds:>10.0f}")
        rows.append(row(name, seconds))

    def median_of(f):
        f()  # warm-up
        times = []
        for _ in range(opt.repeats):
            t0 = time.perf_counter()
            f()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    print(f"{'workload':<44} {'ms/token':>10} {'tokens/s':>10}")
    with torch.inference_mode():
        for p in (16, 256):
            name = f"generate/greedy, prompt {p}, {NEW} new"
            if opt.filter in name:
                prompt = torch.randint(0, VOCAB, (1, p))
                report(name, median_of(lambda: greedy(m, prompt, NEW)) / NEW)
        positions = (64, 256, 1024)
        if opt.filter in "generate/step at position":
            prompt = torch.randint(0, VOCAB, (1, 16))
            greedy(m, prompt, 64)  # warm-up
            at = [[] for _ in positions]
            for _ in range(opt.repeats):
                s = []
                greedy(m, prompt, NEW, s)
                for j, p in enumerate(positions):
                    first = p - WINDOW - 16 + 1  # step i runs with 16 + i - 1 positions cached
                    at[j].append(statistics.median(s[first:first + 2 * WINDOW]))
            for j, p in enumerate(positions):
                report(f"generate/step at position {p}", statistics.median(at[j]))
        name = f"generate/beam 4, prompt 16, {BEAM_NEW} new"
        if opt.filter in name:
            prompt = torch.randint(0, VOCAB, (1, 16))
            report(name, median_of(lambda: beam(m, prompt, BEAM_NEW)) / BEAM_NEW)
    return rows

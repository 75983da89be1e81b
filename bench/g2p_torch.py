#!/usr/bin/env python3
"""examples/g2p's attention model (--model rnn) in PyTorch, for `make bench-g2p`.

It trains on what `g2p --export DIR` wrote: the same training pairs, the same batches in the same order,
the same initial weights, the same optimizer (AdamW, weight decay 0.01), learning-rate schedule (linear
warmup, then cosine to 0), gradient clipping (norm 1) and label smoothing. Only dropout's random masks
differ. It prints each epoch's training time and, last, the test error rates of greedy decoding:
"WER: <x> PER: <y>", scored as heed's g2p scores them (a word is right when it equals any of its
pronunciations; PER is the edit distance to the closest one over that one's length).

    g2p --export DIR --epochs 3 && python3 bench/g2p_torch.py DIR --threads 2
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, BOS, EOS = 0, 2, 3  # data::Vocab's special ids


def read_config(path):
    config = {}
    with open(path) as f:
        for line in f:
            key, value = line.split()
            config[key] = value
    return config


def ids(text):
    return [int(t) for t in text.split()]


def load_safetensors(path):
    """The tensors of a safetensors file: an 8-byte header length, a JSON header, then the raw data."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    dtypes = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        data = bytearray(blob[8 + n + begin:8 + n + end])
        out[name] = torch.frombuffer(data, dtype=dtypes[info["dtype"]]).reshape(info["shape"]).clone()
    return out


class AdditiveAttention(nn.Module):
    """score(q, k) = v^T tanh(W_q q + W_k k), as heed's nn::AdditiveAttention (no biases)."""

    def __init__(self, hidden):
        super().__init__()
        self.query_proj = nn.Linear(hidden, hidden, bias=False)
        self.key_proj = nn.Linear(hidden, hidden, bias=False)
        self.v = nn.Linear(hidden, 1, bias=False)


class RnnG2P(nn.Module):
    def __init__(self, letters, phones, embed, hidden, dropout):
        super().__init__()
        self.src_emb = nn.Embedding(letters, embed, padding_idx=PAD)
        self.encoder = nn.GRU(embed, hidden // 2, batch_first=True, bidirectional=True)
        self.init = nn.Linear(hidden, hidden)
        self.attention = AdditiveAttention(hidden)
        self.tgt_emb = nn.Embedding(phones, embed, padding_idx=PAD)
        self.decoder = nn.GRUCell(embed + hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(2 * hidden, phones)

    def encode(self, src, lengths, mask):
        x = self.dropout(self.src_emb(src))
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, h_n = self.encoder(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.size(1))
        state = torch.tanh(self.init(torch.cat([h_n[-2], h_n[-1]], 1)))
        return state, out, self.attention.key_proj(out), mask

    def step(self, prev, st):
        s, values, keys, mask = st
        scores = self.attention.v(torch.tanh(self.attention.query_proj(s).unsqueeze(1) + keys)).squeeze(2)
        weights = torch.softmax(scores.masked_fill(mask, float("-inf")), 1)
        context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)
        s = self.decoder(torch.cat([self.dropout(self.tgt_emb(prev)), context], 1), s)
        return self.out(self.dropout(torch.cat([s, context], 1))), (s, values, keys, mask)

    def forward(self, src, lengths, mask, tgt_in):
        st = self.encode(src, lengths, mask)
        logits = []
        for t in range(tgt_in.size(1)):
            y, st = self.step(tgt_in[:, t], st)
            logits.append(y)
        return torch.stack(logits, 1)


def pad(rows, value):
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.int64)


def source_batch(letter_rows):
    src = pad(letter_rows, PAD)
    lengths = torch.tensor([len(r) for r in letter_rows], dtype=torch.int64)
    mask = torch.arange(src.size(1)).unsqueeze(0) >= lengths.unsqueeze(1)
    return src, lengths, mask


def greedy(model, letter_rows):
    src, lengths, mask = source_batch(letter_rows)
    st = model.encode(src, lengths, mask)
    prev = torch.full((src.size(0),), BOS, dtype=torch.int64)
    done = torch.zeros(src.size(0), dtype=torch.bool)
    out = [[] for _ in letter_rows]
    for _ in range(2 * src.size(1) + 4):
        y, st = model.step(prev, st)
        prev = y.argmax(1)
        for i, p in enumerate(prev.tolist()):
            if not done[i]:
                if p == EOS:
                    done[i] = True
                else:
                    out[i].append(p)
        if bool(done.all()):
            break
    return out


def edit_distance(a, b):
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        diagonal, row[0] = row[0], i
        for j in range(1, len(b) + 1):
            up = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1]))
            diagonal = up
    return row[len(b)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", help="what g2p --export wrote")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    c = read_config(os.path.join(args.dir, "config.txt"))
    if c["model"] != "rnn":
        sys.exit("g2p_torch.py: only --model rnn, not %s" % c["model"])
    with open(os.path.join(args.dir, "train.txt")) as f:
        pairs = [tuple(ids(part) for part in line.rstrip("\n").split("\t")) for line in f]
    with open(os.path.join(args.dir, "batches.txt")) as f:
        batches = [ids(line) for line in f]
    with open(os.path.join(args.dir, "test.txt")) as f:
        test = []
        for line in f:
            letters, refs = line.rstrip("\n").split("\t")
            test.append((ids(letters), [ids(r) for r in refs.split("|")]))

    model = RnnG2P(int(c["letters"]), int(c["phones"]), int(c["embed"]), int(c["hidden"]), float(c["dropout"]))
    model.load_state_dict(load_safetensors(os.path.join(args.dir, "init.safetensors")))
    lr, warmup, epochs = float(c["lr"]), int(c["warmup"]), int(c["epochs"])
    steps = len(batches)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=float(c["weight_decay"]))

    def lr_at(step):
        if step <= warmup:
            return lr * step / warmup
        return lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    print("pytorch %s, %d threads: %d training pairs, %d steps over %d epochs, %d parameters" %
          (torch.__version__, args.threads, len(pairs), steps, epochs, sum(p.numel() for p in model.parameters())))
    per_epoch = steps // epochs
    step = 0
    for epoch in range(1, epochs + 1):
        start, loss_sum = time.perf_counter(), 0.0
        for b in batches[(epoch - 1) * per_epoch:epoch * per_epoch]:
            step += 1
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            src, lengths, mask = source_batch([pairs[i][0] for i in b])
            phones = [pairs[i][1] for i in b]
            tgt_in = pad([[BOS] + p for p in phones], PAD)
            tgt_out = pad([p + [EOS] for p in phones], -100)
            logits = model(src, lengths, mask, tgt_in)
            loss = F.cross_entropy(logits.reshape(-1, logits.size(2)), tgt_out.reshape(-1), ignore_index=-100,
                                   label_smoothing=float(c["label_smoothing"]))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), float(c["clip"]))
            opt.step()
            loss_sum += loss.item()
        seconds = time.perf_counter() - start
        print("epoch %d  loss %.4f  %.1f s training  %.2f ms a step" %
              (epoch, loss_sum / per_epoch, seconds, 1000 * seconds / per_epoch), flush=True)

    model.eval()
    wrong = distance = phones = 0
    with torch.no_grad():
        for begin in range(0, len(test), 256):
            chunk = test[begin:begin + 256]
            for pred, (_, refs) in zip(greedy(model, [t[0] for t in chunk]), chunk):
                best = min(refs, key=lambda r: edit_distance(pred, r))
                d = edit_distance(pred, best)
                wrong += d > 0
                distance += d
                phones += len(best)
    print("WER: %.4f PER: %.4f" % (wrong / len(test), distance / phones))


if __name__ == "__main__":
    main()

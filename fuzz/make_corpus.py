#!/usr/bin/env python3
"""Writes the seed corpus of heed's fuzz targets: fuzz/corpus/<target>/<name>.

    python3 fuzz/make_corpus.py            # (re)writes fuzz/corpus/ next to this script

Standard library only; the output is deterministic, so re-running it changes nothing. Each target gets
a few valid inputs (what the fuzzer mutates from) and a few truncated or malformed ones.
"""
import json
import math
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- fuzz_checkpoint: safetensors files ------------------------------------------------------------

FORMATS = {"F32": "f", "F64": "d", "I64": "q", "BOOL": "?"}
SIZES = {"F32": 4, "F64": 8, "I64": 8, "BOOL": 1}
ORDER = {"I64": 0, "F64": 1, "F32": 2, "BOOL": 3}  # data order, as safetensors and heed write it


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, values) -> the bytes of a safetensors file."""
    header, chunks, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, values in sorted(tensors, key=lambda t: (ORDER[t[1]], t[0])):
        assert len(values) == numel(shape)
        data = struct.pack("<%d%s" % (len(values), FORMATS[dtype]), *values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)  # the data starts 8-aligned
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def raw_file(header, data):
    return struct.pack("<Q", len(header)) + header + data


def values(n, scale=0.5, phase=0.0):
    return [round(scale * math.sin(1.7 * i + phase), 6) for i in range(n)]


def model_tensors(dtype):
    """The state dict of fuzz_checkpoint.cpp's Model: Linear(4, 8), LayerNorm(8), Tanh, Linear(8, 3)."""
    shapes = {"0.weight": [8, 4], "0.bias": [8], "1.weight": [8], "1.bias": [8], "3.weight": [3, 8], "3.bias": [3]}
    return [(name, dtype, shape, values(numel(shape), phase=k)) for k, (name, shape) in enumerate(shapes.items())]


def optimizer_tensors():
    """An AdamW state dict (optim/optimizer_impl.hpp's names) for that model's 6 parameters, after 3 steps."""
    options = {"lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-2, "amsgrad": 0.0,
               "maximize": 0.0}
    out = [("param_groups.0." + k, "F64", [], [v]) for k, v in options.items()]
    out.append(("param_groups.0.params", "I64", [6], list(range(6))))
    for i, (_, _, shape, _) in enumerate(model_tensors("F32")):
        out.append(("state.%d.step" % i, "F64", [], [3.0]))
        out.append(("state.%d.exp_avg" % i, "F32", shape, values(numel(shape), 0.01, i)))
        out.append(("state.%d.exp_avg_sq" % i, "F32", shape, [v * v for v in values(numel(shape), 0.01, i)]))
    return out


def checkpoint_corpus():
    model = safetensors(model_tensors("F32"), {"format": "pt"})
    mixed = safetensors(
        [
            ("index", "I64", [5], [-(2**63), -1, 0, 7, 2**63 - 1]),
            ("mask", "BOOL", [2, 3], [True, False, False, True, True, False]),
            ("scalar", "F64", [], [-2.5]),
            ("empty", "F32", [0], []),
            ("empty_2d", "I64", [2, 0, 3], []),
            ("special", "F32", [4], [float("nan"), float("inf"), -float("inf"), -0.0]),
            ('quote "\\ tab\t h\u00e9llo \U0001f600', "F32", [1], [1.0]),
        ],
        {"k": "v", "unicode": "h\u00e9llo"},
    )
    header_end = 8 + struct.unpack("<Q", model[:8])[0]
    return {
        "model_f32.safetensors": model,
        "model_f64.safetensors": safetensors(model_tensors("F64")),
        "mixed.safetensors": mixed,
        "empty.safetensors": safetensors([]),
        "metadata_only.safetensors": safetensors([], {"a": "b"}),
        "adamw.safetensors": safetensors(optimizer_tensors()),
        "linear_lr.safetensors": safetensors([("epoch", "F64", [], [3.0]), ("base_lrs", "F64", [1], [1e-2])]),
        # truncated: in the data, in the header, in the header size
        "truncated_data.safetensors": model[: len(model) - 5],
        "truncated_header.safetensors": model[: header_end // 2],
        "truncated_size.safetensors": model[:5],
        # malformed: overlapping byte ranges, a wrong dtype label
        "overlap.safetensors": raw_file(
            b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
            bytes(8),
        ),
        "mislabeled.safetensors": model.replace(b'"F32"', b'"F16"', 1),
    }


# ---- fuzz_tensor_bytes: flags, ndim, sizes, print options, elements ---------------------------------------

F32, F64, I64, BOOL = 0, 1, 2, 3
WIDE, RESHAPE, PRINT = 4, 8, 16
ELEMENT = {F32: "f", F64: "d", I64: "q", BOOL: "B"}


def tensor_input(flags, sizes, elements, print_options=(4, 100, 3)):
    out = bytes([flags, len(sizes)])
    for s in sizes:
        out += struct.pack("<q", s) if flags & WIDE else struct.pack("<b", s)
    out += struct.pack("<bBB", *print_options)
    return out + struct.pack("<%d%s" % (len(elements), ELEMENT[flags & 3]), *elements)


def tensor_bytes_corpus():
    return {
        "f32_2x3": tensor_input(F32, [2, 3], values(6)),
        "f64_scalar_nan": tensor_input(F64, [], [float("nan")]),
        "f32_inf_item": tensor_input(F32, [1], [float("inf")]),
        "i64_reshape_minus1": tensor_input(I64 | RESHAPE, [2, -1], [-(2**63), -1, 0, 1, 2**62, 2**63 - 1]),
        "bool_2x2x2_print": tensor_input(BOOL | PRINT, [2, 2, 2], [1, 0, 0, 1, 1, 1, 0, 0], (2, 4, 1)),
        "f64_wide_sizes": tensor_input(F64 | WIDE, [3, 1], [1e300, -1e-300, 0.5]),
        "f32_empty": tensor_input(F32, [0, 4], []),
        "f32_long_print": tensor_input(F32 | PRINT, [40], values(40), (3, 10, 2)),
        # truncated or malformed: too few elements, too many dims, an overflowing shape
        "truncated_elements": tensor_input(F32, [2, 3], values(6))[:-3],
        "truncated_sizes": tensor_input(F64 | WIDE, [3, 1], [1.0, 2.0, 3.0])[:7],
        "nine_dims": tensor_input(F32, [1] * 9, [1.0]),
        "overflow_shape": tensor_input(I64 | WIDE, [2**62, 4], [1]),
    }


# ---- fuzz_csv: an options byte, then CSV text ---------------------------------------------------------

COMMA, TAB, SEMICOLON, PIPE = 0, 1, 2, 3
NO_HEADER, NO_QUOTE = 4, 8


def csv_input(flags, text):
    return bytes([flags]) + text.encode("utf-8") if isinstance(text, str) else bytes([flags]) + text


def csv_corpus():
    return {
        "simple.csv": csv_input(COMMA, "id,name,score\n1,ada,3.5\n2,bob,4\n"),
        "quoted.csv": csv_input(COMMA, 'a,b\r\n"x, y","say ""hi"""\r\n"two\nlines",\r\n'),
        "bom_blank_lines.csv": csv_input(COMMA, b"\xef\xbb\xbfk,v\n\n1,2\n\n"),
        "pairs.tsv": csv_input(TAB, "source\ttarget\nHallo Welt\tHello world\n\"a\tb\"\tc\n"),
        "raw_quotes.tsv": csv_input(TAB | NO_QUOTE, 'en\tde\n"Hi," she said\t"Hallo", sagte sie\n'),
        "no_header.csv": csv_input(SEMICOLON | NO_HEADER, "1;2;3\n4;5;6"),
        "empty_fields.csv": csv_input(PIPE, 'a|b|c\n||\n""|x|\n'),
        "utf8.csv": csv_input(COMMA, "w\u00f6rd,\u00fcbersetzung\n\u65e5\u672c,\U0001f600\n"),
        # malformed: an unterminated quote, text after a closing quote, a short row, a repeated name
        "unterminated.csv": csv_input(COMMA, 'a,b\n1,"open\n'),
        "after_quote.csv": csv_input(COMMA, 'a,b\n"x"y,2\n'),
        "short_row.csv": csv_input(COMMA, "a,b,c\n1,2\n"),
        "repeated_name.csv": csv_input(COMMA, "a,a\n1,2\n"),
    }


# ---- fuzz_tokenizer_files: BPE tokenizer files and vocab files (data/bpe.hpp, data/vocab.hpp) -----------


def escape(token):
    r"""data/text_file.cpp's escape: \\ \n \r \t; \xHH for other control bytes, space, DEL and bytes outside
    well-formed UTF-8; well-formed non-ASCII UTF-8 as it is. token: bytes -> str."""
    out, i = [], 0
    named = {0x5C: "\\\\", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
    while i < len(token):
        c = token[i]
        if c >= 0x80:
            for n in (2, 3, 4):
                try:
                    ch = token[i:i + n].decode("utf-8")
                except UnicodeDecodeError:
                    continue
                if len(ch) == 1:
                    out.append(ch)
                    i += n
                    break
            else:
                out.append("\\x%02X" % c)
                i += 1
            continue
        out.append(named.get(c) or ("\\x%02X" % c if c <= 0x20 or c == 0x7F else chr(c)))
        i += 1
    return "".join(out)


def learn_merges(text, count):
    """A small naive byte-level BPE (words split before spaces; ties to the smallest pair), for valid seeds."""
    words = [list(w.encode()) for w in text.replace(" ", "\0 ").split("\0") if w]
    merges, tokens = [], {b: bytes([b]) for b in range(256)}
    while len(merges) < count:
        pairs = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + 1
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        new = 256 + len(merges)
        merges.append(best)
        tokens[new] = tokens[best[0]] + tokens[best[1]]
        for k, w in enumerate(words):
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(new)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[k] = out
    return merges, tokens


def bpe_file(merges, tokens, specials=(), comments=True):
    lines = ["#heed-bpe v1 merges=%d specials=%d" % (len(merges), len(specials))]
    for k, (a, b) in enumerate(merges):
        lines.append("%d %d" % (a, b) + (" # " + escape(tokens[256 + k]) if comments else ""))
    lines += ["special " + escape(s) for s in specials]
    return ("\n".join(lines) + "\n").encode()


def vocab_file(tokens, use_unk=1):
    tokens = [b"<pad>", b"<unk>", b"<bos>", b"<eos>"] + tokens
    lines = ["#heed-vocab v1 size=%d use_unk=%d" % (len(tokens), use_unk)] + [escape(t) for t in tokens]
    return ("\n".join(lines) + "\n").encode()


def tokenizer_files_corpus():
    text = ("One morning, Mia went to the lake. It was a sunny day. Mia wanted to find a pink shell. "
            "Then a sleepy dog came to play. The dog helped Mia carry the pink shell home. " * 3)
    merges, tokens = learn_merges(text, 60)
    stories = bpe_file(merges, tokens, [b"<|endoftext|>"])
    words = [b"the", b"a", b"mia", b".", b",", b"caf\xc3\xa9", b"\n", b" ", b"\t", b"\\", b"\xff\xfe", b"\x00"]
    vocab = vocab_file(words)
    return {
        "stories.bpe": stories,
        "no_comments.bpe": bpe_file(merges[:20], tokens, comments=False),
        "specials.bpe": bpe_file([(104, 101), (116, 256)], {256: b"he", 257: b"the"},
                                 [b"<|endoftext|>", b"<pad>", b"a b\n\\\t\xff", b"\xc3\xa9"]),
        "bytes_only.bpe": bpe_file([], {}),
        "vocab.txt": vocab,
        "vocab_strict.txt": vocab_file(words[:5], use_unk=0),
        "specials_only.txt": vocab_file([]),
        # truncated or malformed: cut mid-line, cut at a line's end, an undefined id, a repeated merge or token,
        # a missing special, a Windows line end
        "truncated_mid_line.bpe": stories[: len(stories) - 7],
        "truncated_lines.bpe": stories[: stories.index(b"\n", len(stories) // 2) + 1],
        "undefined_merge.bpe": b"#heed-bpe v1 merges=2 specials=0\n104 101\n116 258\n",
        "repeated_merge.bpe": b"#heed-bpe v1 merges=2 specials=0\n104 101 # he\n104 101 # he\n",
        "doubling.bpe": b"#heed-bpe v1 merges=4 specials=0\n97 97\n256 256\n257 257\n258 258\n",
        "truncated.txt": vocab[: len(vocab) - 3],
        "missing_special.txt": b"#heed-vocab v1 size=5 use_unk=1\n<pad>\n<bos>\n<eos>\n<unk>\nthe\n",
        "repeated_token.txt": vocab_file([b"the", b"cat", b"the"]),
        "crlf.txt": vocab.replace(b"\n", b"\r\n"),
    }


# ---- fuzz_cmudict: the CMU dictionary in Festival's format (examples/g2p/cmudict.hpp) ------------------------
def cmudict_corpus():
    good = (b'MNCL\n("a" dt (((ax) 0)))\n("a" n (((ey) 1)))\n'
            b'("aardvark" nil (((aa r d) 1) ((v aa r k) 1)))\n("Lead" v_p (((l eh d) 1)))\n')
    return {
        "good.out": good,
        "crlf.out": good.replace(b"\n", b"\r\n"),
        "unclosed.out": b'("a" nil (((ax) 0))\n',
        "stress2.out": b'("a" nil (((ax) 2)))\n',
        "nested.out": b"(" * 40 + b"\n",
        "no_phone.out": b'("a" nil ((() 0)))\n',
        "header_late.out": b'("a" dt (((ax) 0)))\nMNCL\n',
    }


def main():
    for target, files in (("fuzz_checkpoint", checkpoint_corpus()), ("fuzz_tensor_bytes", tensor_bytes_corpus()),
                          ("fuzz_csv", csv_corpus()), ("fuzz_tokenizer_files", tokenizer_files_corpus()),
                          ("fuzz_cmudict", cmudict_corpus())):
        directory = os.path.join(HERE, "corpus", target)
        os.makedirs(directory, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(directory, name), "wb") as f:
                f.write(data)
        print("%s: %d files in %s" % (target, len(files), os.path.relpath(directory)))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Train a tiny character-level llama-architecture model on Debian's fortune files and write it
as a GGUF v3 file that llama.cpp (node-llama-cpp) loads as an ordinary llama model.

Run with Debian's python (python3-torch is packaged for /usr/bin/python3 only):

    apt-get install -y python3-torch fortunes fortunes-min
    /usr/bin/python3 models/train/train_fortunes_char.py --minutes 10 --out models/fortunes-char.gguf

Design notes (the why):
- The vocabulary is SentencePiece-shaped so llama.cpp's "llama" (SPM) tokenizer reproduces our
  training tokenization exactly: <unk>, <s>, </s>, the 256 byte-fallback tokens <0x00>..<0xFF>,
  then one token per printable character, with space spelled U+2581 ("▁"). There are no
  multi-character pieces, so SPM's bigram merging never fires and every character is one token;
  characters outside the vocabulary (newline, tab, rare symbols) become their UTF-8 bytes, which
  is what the SPM byte fallback does at inference time. add_space_prefix is written as false so
  llama.cpp does not prepend a space the model never saw.
- Rotary embeddings use the interleaved-pair formulation (rotate x[2i], x[2i+1]) that llama.cpp
  applies for LLAMA_ROPE_TYPE_NORM, so Q/K weights are written as trained, without the
  permutation that converting Hugging Face checkpoints (which rotate halves) needs.
- Each fortune is one document: <s> text </s>, so the model learns to end a fortune with EOS.
- Weights are written as F32: the file stays small (a few MB) and llama.cpp's greedy output can
  be compared token for token with PyTorch's (see greedy-reference.json).
"""
import argparse
import json
import math
import os
import struct
import sys
import time
import unicodedata

# One BLAS thread: PyTorch's own intra-op threads and OpenBLAS's pthreads otherwise fight over
# the same cores (measured on a 2-core machine: 0.9 s/step single-threaded, 3-7 s/step contended).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch
import torch.nn as nn
import torch.nn.functional as F

FORTUNE_DIR = "/usr/share/games/fortunes"
SKIP_FILES = {"ascii-art"}  # pictures, not language
SPACE = "\u2581"
UNK, BOS, EOS = 0, 1, 2
BYTE0 = 3  # ids 3..258 are <0x00>..<0xFF>
FIRST_CHAR = BYTE0 + 256


# ---------------------------------------------------------------- data

def read_fortunes(directory):
    docs = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.endswith(".dat") or name.endswith(".u8") or name in SKIP_FILES or os.path.islink(path):
            continue
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            raw = f.read().decode("utf-8", errors="replace")
        for doc in raw.split("\n%\n"):
            doc = clean(doc)
            if doc:
                docs.append(doc)
    return docs


def clean(text):
    # Some files use overstriking ("_\bX" for underline, "X\bX" for bold): keep the last glyph.
    out = []
    for ch in text:
        if ch == "\b":
            if out:
                out.pop()
            continue
        if ch == "\r":
            continue
        out.append(ch)
    text = "".join(out).strip("\n")
    if text.startswith("%"):
        text = text.lstrip("%").strip("\n")
    return text


def build_vocab(docs, min_count):
    counts = {}
    for d in docs:
        for ch in d:
            counts[ch] = counts.get(ch, 0) + 1
    chars = []
    for ch, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if n < min_count:
            continue
        # Control characters (newline, tab) go through byte fallback, as in Llama's own vocab.
        if unicodedata.category(ch)[0] == "C" or ch == SPACE:
            continue
        chars.append(ch)
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    tokens += [SPACE if ch == " " else ch for ch in chars]
    # SPM scores only steer merges; with single-character pieces they are informational.
    scores = [0.0, 0.0, 0.0] + [0.0] * 256 + [-float(i) for i in range(len(chars))]
    token_type = [2, 3, 3] + [6] * 256 + [1] * len(chars)
    return tokens, scores, token_type


def encoder(tokens):
    index = {t: i for i, t in enumerate(tokens) if i >= FIRST_CHAR}

    def encode(text):
        ids = []
        for ch in text:
            piece = SPACE if ch == " " else ch
            i = index.get(piece)
            if i is not None:
                ids.append(i)
            else:
                ids.extend(BYTE0 + b for b in ch.encode("utf-8"))
        return ids

    return encode


def decode(tokens, ids):
    out = bytearray()
    for i in ids:
        if BYTE0 <= i < FIRST_CHAR:
            out.append(i - BYTE0)
        elif i >= FIRST_CHAR:
            out.extend(tokens[i].replace(SPACE, " ").encode("utf-8"))
    return out.decode("utf-8", errors="replace")


# ---------------------------------------------------------------- model

class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(head_dim, n_ctx, base):
    inv = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    ang = torch.outer(torch.arange(n_ctx, dtype=torch.float64), inv)  # [T, hd/2]
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    # x: [B, H, T, hd]; pairs (x[2i], x[2i+1]) rotate together, as llama.cpp's NORM rope does.
    x0 = x[..., 0::2]
    x1 = x[..., 1::2]
    c = cos[: x.shape[-2]]
    s = sin[: x.shape[-2]]
    y0 = x0 * c - x1 * s
    y1 = x0 * s + x1 * c
    return torch.stack((y0, y1), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, ff = cfg["dim"], cfg["ff"]
        self.n_head = cfg["heads"]
        self.attn_norm = RMSNorm(d, cfg["eps"])
        self.wq = nn.Linear(d, d, bias=False)
        self.wk = nn.Linear(d, d, bias=False)
        self.wv = nn.Linear(d, d, bias=False)
        self.wo = nn.Linear(d, d, bias=False)
        self.ffn_norm = RMSNorm(d, cfg["eps"])
        self.w_gate = nn.Linear(d, ff, bias=False)
        self.w_up = nn.Linear(d, ff, bias=False)
        self.w_down = nn.Linear(ff, d, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, D = x.shape
        H = self.n_head
        h = self.attn_norm(x)
        q = self.wq(h).view(B, T, H, D // H).transpose(1, 2)
        k = self.wk(h).view(B, T, H, D // H).transpose(1, 2)
        v = self.wv(h).view(B, T, H, D // H).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(D // H)
        att = att.masked_fill(mask[:T, :T], float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.wo(y)
        h = self.ffn_norm(x)
        return x + self.w_down(F.silu(self.w_gate(h)) * self.w_up(h))


class Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg["vocab"], cfg["dim"])
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg["layers"]))
        self.norm = RMSNorm(cfg["dim"], cfg["eps"])
        self.out = nn.Linear(cfg["dim"], cfg["vocab"], bias=False)
        cos, sin = rope_tables(cfg["dim"] // cfg["heads"], cfg["ctx"], cfg["rope_base"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        mask = torch.triu(torch.ones(cfg["ctx"], cfg["ctx"], dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * cfg["layers"]) if name.endswith(("wo.weight", "w_down.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx):
        x = self.tok(idx)
        for b in self.blocks:
            x = b(x, self.cos, self.sin, self.mask)
        return self.out(self.norm(x))


@torch.no_grad()
def greedy(model, ids, n):
    ids = list(ids)
    out = []
    for _ in range(n):
        ctx = ids[-model.cfg["ctx"]:]
        logits = model(torch.tensor([ctx]))[0, -1]
        nxt = int(torch.argmax(logits))
        out.append(nxt)
        ids.append(nxt)
        if nxt == EOS:
            break
    return out


# ---------------------------------------------------------------- GGUF writer

GGUF_MAGIC = 0x46554747  # "GGUF" little endian
T_UINT32, T_INT32, T_FLOAT32, T_BOOL, T_STRING, T_ARRAY = 4, 5, 6, 7, 8, 9
GGML_F32 = 0
ALIGN = 32


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _value(vtype, v):
    if vtype == T_UINT32:
        return struct.pack("<I", v)
    if vtype == T_INT32:
        return struct.pack("<i", v)
    if vtype == T_FLOAT32:
        return struct.pack("<f", v)
    if vtype == T_BOOL:
        return struct.pack("<?", v)
    if vtype == T_STRING:
        return _str(v)
    raise ValueError(vtype)


def write_gguf(path, kvs, tensors):
    """kvs: list of (key, type, value) or (key, T_ARRAY, (elem_type, values));
    tensors: list of (name, float32 torch tensor in PyTorch [rows, cols] layout)."""
    head = bytearray()
    head += struct.pack("<IIQQ", GGUF_MAGIC, 3, len(tensors), len(kvs))
    for key, vtype, value in kvs:
        head += _str(key) + struct.pack("<I", vtype)
        if vtype == T_ARRAY:
            etype, values = value
            head += struct.pack("<IQ", etype, len(values))
            for v in values:
                head += _value(etype, v)
        else:
            head += _value(vtype, value)
    blobs = []
    offset = 0
    for name, t in tensors:
        data = t.detach().contiguous().float().numpy().astype("<f4").tobytes()
        dims = list(reversed(t.shape))  # ggml's ne[0] is the contiguous (last PyTorch) dim
        head += _str(name) + struct.pack("<I", len(dims))
        head += b"".join(struct.pack("<Q", d) for d in dims)
        head += struct.pack("<IQ", GGML_F32, offset)
        pad = (-len(data)) % ALIGN
        blobs.append(data + b"\0" * pad)
        offset += len(data) + pad
    head += b"\0" * ((-len(head)) % ALIGN)
    with open(path, "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)


def export(model, vocab, path):
    tokens, scores, token_type = vocab
    c = model.cfg
    kvs = [
        ("general.architecture", T_STRING, "llama"),
        ("general.name", T_STRING, "fortunes-char"),
        ("general.alignment", T_UINT32, ALIGN),
        ("llama.context_length", T_UINT32, c["ctx"]),
        ("llama.embedding_length", T_UINT32, c["dim"]),
        ("llama.block_count", T_UINT32, c["layers"]),
        ("llama.feed_forward_length", T_UINT32, c["ff"]),
        ("llama.rope.dimension_count", T_UINT32, c["dim"] // c["heads"]),
        ("llama.rope.freq_base", T_FLOAT32, float(c["rope_base"])),
        ("llama.attention.head_count", T_UINT32, c["heads"]),
        ("llama.attention.head_count_kv", T_UINT32, c["heads"]),
        ("llama.attention.layer_norm_rms_epsilon", T_FLOAT32, c["eps"]),
        ("llama.vocab_size", T_UINT32, len(tokens)),
        ("tokenizer.ggml.model", T_STRING, "llama"),
        ("tokenizer.ggml.tokens", T_ARRAY, (T_STRING, tokens)),
        ("tokenizer.ggml.scores", T_ARRAY, (T_FLOAT32, scores)),
        ("tokenizer.ggml.token_type", T_ARRAY, (T_INT32, token_type)),
        ("tokenizer.ggml.unknown_token_id", T_UINT32, UNK),
        ("tokenizer.ggml.bos_token_id", T_UINT32, BOS),
        ("tokenizer.ggml.eos_token_id", T_UINT32, EOS),
        ("tokenizer.ggml.add_bos_token", T_BOOL, True),
        ("tokenizer.ggml.add_eos_token", T_BOOL, False),
        ("tokenizer.ggml.add_space_prefix", T_BOOL, False),
    ]
    tensors = [("token_embd.weight", model.tok.weight)]
    for i, b in enumerate(model.blocks):
        tensors += [
            (f"blk.{i}.attn_norm.weight", b.attn_norm.weight),
            (f"blk.{i}.attn_q.weight", b.wq.weight),
            (f"blk.{i}.attn_k.weight", b.wk.weight),
            (f"blk.{i}.attn_v.weight", b.wv.weight),
            (f"blk.{i}.attn_output.weight", b.wo.weight),
            (f"blk.{i}.ffn_norm.weight", b.ffn_norm.weight),
            (f"blk.{i}.ffn_gate.weight", b.w_gate.weight),
            (f"blk.{i}.ffn_up.weight", b.w_up.weight),
            (f"blk.{i}.ffn_down.weight", b.w_down.weight),
        ]
    tensors += [("output_norm.weight", model.norm.weight), ("output.weight", model.out.weight)]
    write_gguf(path, kvs, tensors)


# ---------------------------------------------------------------- training

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0, help="wall-clock training budget")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: time only)")
    ap.add_argument("--dim", type=int, default=192)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--ff", type=int, default=512)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--out", default="models/fortunes-char.gguf")
    ap.add_argument("--reference", default="models/train/greedy-reference.json")
    ap.add_argument("--checkpoint", default="", help="also save the PyTorch weights here")
    ap.add_argument("--init", default="", help="start training from this checkpoint")
    ap.add_argument("--export-only", default="", help="skip training; load this checkpoint and export")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    docs = read_fortunes(FORTUNE_DIR)
    vocab = build_vocab(docs, min_count=3)
    tokens = vocab[0]
    encode = encoder(tokens)
    stream = []
    for d in docs:
        stream += [BOS] + encode(d) + [EOS]
    data = torch.tensor(stream, dtype=torch.long)
    n_val = len(data) // 50
    train, val = data[:-n_val], data[-n_val:]
    print(f"docs={len(docs)} tokens={len(data)} vocab={len(tokens)} ({len(tokens) - FIRST_CHAR} chars)", flush=True)

    cfg = dict(vocab=len(tokens), dim=args.dim, layers=args.layers, heads=args.heads, ff=args.ff,
               ctx=args.ctx, eps=1e-5, rope_base=10000.0)
    model = Model(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"params={n_params} cfg={cfg}", flush=True)

    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(args.seed)

    def batch(src):
        ix = torch.randint(len(src) - args.ctx - 1, (args.batch,), generator=gen)
        x = torch.stack([src[i:i + args.ctx] for i in ix])
        y = torch.stack([src[i + 1:i + 1 + args.ctx] for i in ix])
        return x, y

    @torch.no_grad()
    def val_loss():
        model.eval()
        losses = []
        for _ in range(8):
            x, y = batch(val)
            losses.append(F.cross_entropy(model(x).view(-1, cfg["vocab"]), y.view(-1)).item())
        model.train()
        return sum(losses) / len(losses)

    # The learning-rate schedule runs on wall-clock time so a fixed budget gets a full warmup+decay.
    if args.init:
        model.load_state_dict(torch.load(args.init))
    if args.export_only:
        model.load_state_dict(torch.load(args.export_only))
        args.minutes = 0.0
    budget = args.minutes * 60.0
    warmup = 0.03
    t0 = time.time()
    step = 0
    while True:
        frac = (time.time() - t0) / budget if budget else 1.0
        if args.export_only or frac >= 1.0 or (args.max_steps and step >= args.max_steps):
            break
        lr = args.lr * (frac / warmup if frac < warmup else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (frac - warmup) / (1 - warmup))))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = batch(train)
        loss = F.cross_entropy(model(x).view(-1, cfg["vocab"]), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 50 == 0:
            print(f"step {step} t={time.time() - t0:.0f}s lr={lr:.2e} loss={loss.item():.3f}", flush=True)
        if step % 250 == 0:
            print(f"  val={val_loss():.3f}", flush=True)
    train_s = time.time() - t0
    vl = val_loss()
    print(f"done steps={step} seconds={train_s:.0f} val_loss={vl:.3f}", flush=True)

    if args.checkpoint:
        torch.save(model.state_dict(), args.checkpoint)
    model.eval()
    prompts = ["The meaning of life is", "Q: What is a computer?\nA:", "A"]
    refs = []
    for p in prompts:
        ids = [BOS] + encode(p)
        out = greedy(model, ids, 120)
        text = decode(tokens, out)
        print(f"--- {p!r} -> {text!r}", flush=True)
        refs.append({"prompt": p, "promptTokens": ids, "greedyTokens": out, "greedyText": text})

    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    export(model, vocab, args.out)
    size = os.path.getsize(args.out)
    print(f"wrote {args.out} ({size} bytes)", flush=True)
    if args.reference:
        with open(args.reference, "w") as f:
            json.dump({"model": os.path.basename(args.out), "params": n_params, "config": cfg,
                       "steps": step, "trainSeconds": round(train_s), "valLoss": round(vl, 4),
                       "torch": torch.__version__, "args": vars(args), "samples": refs}, f, indent=1,
                      ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Regenerates the model-family test data of issue 15 (XOR-delta coding of fine-tunes).

Trains a tiny character-level transformer language model with numpy alone (hand-written
backward pass, Adam), then fine-tunes it three ways, and writes each model as F32 and BF16
safetensors next to this file:

  base       random init, trained on corpus A (GPL-3)
  ft-a       base fine-tuned on corpus B (Apache-2.0), every tensor trainable
  ft-b       base fine-tuned on corpus C (MPL-2.0), every tensor trainable
  ft-frozen  base fine-tuned on corpus B with model.embed_tokens, model.embed_positions and
             lm_head frozen: those tensors stay bit-identical to the base

The BF16 file of each model is the final F32 weights rounded to nearest even, as torch's
.to(torch.bfloat16) does; a BF16 fine-tune is therefore not trained in BF16 but rounded from
its own F32 weights, the way real BF16 fine-tunes are published.

The outputs are committed; CI reads them and never runs this program. Run it only to
regenerate (needs python3-numpy; about 4.5 minutes of one core):

  OPENBLAS_NUM_THREADS=1 python3 tests/data/family/train.py [OUTDIR]

OUTDIR defaults to this directory; give another one to compare a regeneration with the
committed files (cmp, or sha256sum -c SHA256SUMS there).

It prints the training loss and, per fine-tune and dtype, how much of it differs from the
base bit for bit (see print_family_facts). Seeds are fixed and two runs give the same
bytes; the committed files came from numpy 1.24.2 with Debian's reference BLAS, and another
BLAS, numpy or CPU may round float32 sums differently and give other (equally valid)
files. The corpora come from Debian's base-files package (Essential, so present on a bare
Debian 12); their sha256 is checked so that a changed text fails loudly.
"""

import ctypes
import hashlib
import json
import math
import os
import struct
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else HERE
LICENSES = "/usr/share/common-licenses"

# sha256 of the corpora as shipped by base-files 12.4+deb12u* (Debian 12).
CORPORA = {
    "GPL-3": "3972dc9744f6499f0f9b2dbf76696f2ae7ad8af9b23dde66d6af86c9dfb36986",
    "Apache-2.0": "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30",
    "MPL-2.0": "fab3dd6bdab226f1c08630b1dd917e11fcb4ec5e1e020e2c16f83a0a13863e85",
}

# Model shape: about 250K parameters, so that 4 models x (F32 + BF16) stay under 7 MB.
VOCAB = 128          # ASCII; any other byte is read as '?'
CTX = 64             # context length, and rows of the positional embedding
DIM = 96
HEADS = 4
LAYERS = 2
FFN = 4 * DIM
LN_EPS = 1e-5

BATCH = 8


def load_corpus(name):
    """The corpus as a uint8 array of token ids, checked against its known sha256."""
    with open(os.path.join(LICENSES, name), "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != CORPORA[name]:
        sys.exit("%s/%s: sha256 %s, expected %s" % (LICENSES, name, digest, CORPORA[name]))
    ids = np.frombuffer(data, dtype=np.uint8).copy()
    ids[ids >= VOCAB] = ord("?")
    return ids


# ---------------------------------------------------------------------------------------
# Parameters, named as in a Hugging Face causal LM; linear weights are [out, in] as torch
# stores them.

def layer_names(i):
    p = "model.layers.%d." % i
    return {
        "ln1_w": p + "input_layernorm.weight", "ln1_b": p + "input_layernorm.bias",
        "wq": p + "self_attn.q_proj.weight", "wk": p + "self_attn.k_proj.weight",
        "wv": p + "self_attn.v_proj.weight", "wo": p + "self_attn.o_proj.weight",
        "ln2_w": p + "post_attention_layernorm.weight",
        "ln2_b": p + "post_attention_layernorm.bias",
        "w1": p + "mlp.up_proj.weight", "b1": p + "mlp.up_proj.bias",
        "w2": p + "mlp.down_proj.weight", "b2": p + "mlp.down_proj.bias",
    }


EMBEDDINGS = ("model.embed_tokens.weight", "model.embed_positions.weight", "lm_head.weight")


def init_params(rng):
    """GPT-2 style init: N(0, 0.02), residual projections scaled by 1/sqrt(2 * LAYERS)."""
    def normal(*shape, std=0.02):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    resid_std = 0.02 / math.sqrt(2 * LAYERS)
    params = {
        "model.embed_tokens.weight": normal(VOCAB, DIM),
        "model.embed_positions.weight": normal(CTX, DIM, std=0.01),
    }
    for i in range(LAYERS):
        n = layer_names(i)
        params[n["ln1_w"]] = np.ones(DIM, np.float32)
        params[n["ln1_b"]] = np.zeros(DIM, np.float32)
        params[n["wq"]] = normal(DIM, DIM)
        params[n["wk"]] = normal(DIM, DIM)
        params[n["wv"]] = normal(DIM, DIM)
        params[n["wo"]] = normal(DIM, DIM, std=resid_std)
        params[n["ln2_w"]] = np.ones(DIM, np.float32)
        params[n["ln2_b"]] = np.zeros(DIM, np.float32)
        params[n["w1"]] = normal(FFN, DIM)
        params[n["b1"]] = np.zeros(FFN, np.float32)
        params[n["w2"]] = normal(DIM, FFN, std=resid_std)
        params[n["b2"]] = np.zeros(DIM, np.float32)
    params["model.norm.weight"] = np.ones(DIM, np.float32)
    params["model.norm.bias"] = np.zeros(DIM, np.float32)
    params["lm_head.weight"] = normal(VOCAB, DIM)
    return params


# ---------------------------------------------------------------------------------------
# Forward and backward. Activations are [N, DIM] with N = batch * CTX rows; attention
# reshapes them to [batch, HEADS, CTX, head_dim]. Each forward step returns a cache that
# its backward step consumes.

def layernorm(x, w, b):
    mu = x.mean(-1, keepdims=True)
    rstd = 1.0 / np.sqrt(x.var(-1, keepdims=True) + LN_EPS)
    xhat = (x - mu) * rstd
    return xhat * w + b, (xhat, rstd, w)


def layernorm_back(dy, cache):
    xhat, rstd, w = cache
    dxhat = dy * w
    dx = rstd * (dxhat - dxhat.mean(-1, keepdims=True)
                 - xhat * (dxhat * xhat).mean(-1, keepdims=True))
    return dx, (dy * xhat).sum(0), dy.sum(0)


GELU_C = math.sqrt(2.0 / math.pi)


def gelu(u):
    t = np.tanh(GELU_C * (u + 0.044715 * (u * u * u)))   # u ** 3 is 100x slower
    return 0.5 * u * (1.0 + t), (u, t)


def gelu_back(dy, cache):
    u, t = cache
    du = 0.5 * (1.0 + t) + 0.5 * u * (1.0 - t * t) * GELU_C * (1.0 + 3 * 0.044715 * u * u)
    return dy * du


def causal_mask(t):
    return np.triu(np.full((t, t), -np.inf, np.float32), 1)


def split_heads(x, b, t):
    return x.reshape(b, t, HEADS, DIM // HEADS).transpose(0, 2, 1, 3)


def merge_heads(x):
    b, h, t, hd = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b * t, h * hd)


def attention(x, p, n, b, t):
    scale = np.float32(1.0 / math.sqrt(DIM // HEADS))
    q = split_heads(x @ p[n["wq"]].T, b, t)
    k = split_heads(x @ p[n["wk"]].T, b, t)
    v = split_heads(x @ p[n["wv"]].T, b, t)
    att = q @ k.transpose(0, 1, 3, 2) * scale + causal_mask(t)
    att = np.exp(att - att.max(-1, keepdims=True))
    att /= att.sum(-1, keepdims=True)
    y = merge_heads(att @ v)
    return y @ p[n["wo"]].T, (x, q, k, v, att, y, scale)


def attention_back(dout, cache, p, n, g):
    x, q, k, v, att, y, scale = cache
    b, _, t, _ = q.shape
    g[n["wo"]] = dout.T @ y
    dy = split_heads(dout @ p[n["wo"]], b, t)
    datt = dy @ v.transpose(0, 1, 3, 2)
    dv = att.transpose(0, 1, 3, 2) @ dy
    datt = att * (datt - (datt * att).sum(-1, keepdims=True)) * scale
    dq = merge_heads(datt @ k)
    dk = merge_heads(datt.transpose(0, 1, 3, 2) @ q)
    dv = merge_heads(dv)
    g[n["wq"]] = dq.T @ x
    g[n["wk"]] = dk.T @ x
    g[n["wv"]] = dv.T @ x
    return dq @ p[n["wq"]] + dk @ p[n["wk"]] + dv @ p[n["wv"]]


def mlp(x, p, n):
    u = x @ p[n["w1"]].T + p[n["b1"]]
    a, gcache = gelu(u)
    return a @ p[n["w2"]].T + p[n["b2"]], (x, a, gcache)


def mlp_back(dout, cache, p, n, g):
    x, a, gcache = cache
    g[n["w2"]] = dout.T @ a
    g[n["b2"]] = dout.sum(0)
    du = gelu_back(dout @ p[n["w2"]], gcache)
    g[n["w1"]] = du.T @ x
    g[n["b1"]] = du.sum(0)
    return du @ p[n["w1"]]


def forward(p, idx, targets):
    """Mean next-character cross-entropy of a [batch, CTX] window, and what backward
    needs to compute its gradients."""
    b, t = idx.shape
    x = (p["model.embed_tokens.weight"][idx] + p["model.embed_positions.weight"][:t])
    x = x.reshape(b * t, DIM)
    caches = []
    for i in range(LAYERS):
        n = layer_names(i)
        h, c_ln1 = layernorm(x, p[n["ln1_w"]], p[n["ln1_b"]])
        a, c_att = attention(h, p, n, b, t)
        x = x + a
        h, c_ln2 = layernorm(x, p[n["ln2_w"]], p[n["ln2_b"]])
        m, c_mlp = mlp(h, p, n)
        x = x + m
        caches.append((c_ln1, c_att, c_ln2, c_mlp))
    h, c_lnf = layernorm(x, p["model.norm.weight"], p["model.norm.bias"])
    logits = h @ p["lm_head.weight"].T
    logits -= logits.max(-1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(-1, keepdims=True)
    rows = np.arange(b * t)
    tgt = targets.reshape(-1)
    loss = float(-np.log(probs[rows, tgt]).mean())
    return loss, (idx, caches, c_lnf, h, probs, rows, tgt)


def backward(p, state):
    idx, caches, c_lnf, h, probs, rows, tgt = state
    b, t = idx.shape
    g = {}
    dlogits = probs
    dlogits[rows, tgt] -= 1.0
    dlogits /= np.float32(b * t)
    g["lm_head.weight"] = dlogits.T @ h
    dx, g["model.norm.weight"], g["model.norm.bias"] = layernorm_back(
        dlogits @ p["lm_head.weight"], c_lnf)
    for i in reversed(range(LAYERS)):
        n = layer_names(i)
        c_ln1, c_att, c_ln2, c_mlp = caches[i]
        dh, g[n["ln2_w"]], g[n["ln2_b"]] = layernorm_back(mlp_back(dx, c_mlp, p, n, g), c_ln2)
        dx = dx + dh
        dh, g[n["ln1_w"]], g[n["ln1_b"]] = layernorm_back(
            attention_back(dx, c_att, p, n, g), c_ln1)
        dx = dx + dh
    dx = dx.reshape(b, t, DIM)
    g["model.embed_positions.weight"] = np.zeros_like(p["model.embed_positions.weight"])
    g["model.embed_positions.weight"][:t] = dx.sum(0)
    demb = np.zeros_like(p["model.embed_tokens.weight"])
    np.add.at(demb, idx.reshape(-1), dx.reshape(-1, DIM))
    g["model.embed_tokens.weight"] = demb
    return g


def loss_and_grads(p, idx, targets):
    loss, state = forward(p, idx, targets)
    return loss, backward(p, state)


# ---------------------------------------------------------------------------------------
# Training.

class Adam:
    """AdamW with bias correction; moments start at zero for every run, as a fresh
    fine-tuning job's optimizer does."""

    def __init__(self, params, trainable, wd, b1=0.9, b2=0.99, eps=1e-8):
        self.trainable = trainable
        self.wd, self.b1, self.b2, self.eps = wd, b1, b2, eps
        self.m = {k: np.zeros_like(params[k]) for k in trainable}
        self.v = {k: np.zeros_like(params[k]) for k in trainable}
        self.t = 0

    def step(self, params, grads, lr):
        self.t += 1
        c1 = 1.0 - self.b1 ** self.t
        c2 = 1.0 - self.b2 ** self.t
        for k in self.trainable:
            g = grads[k]
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            update = (self.m[k] / c1) / (np.sqrt(self.v[k] / c2) + self.eps)
            if params[k].ndim == 2:   # decay matrices, not norms and biases
                update = update + self.wd * params[k]
            params[k] = (params[k] - lr * update).astype(np.float32)


def lr_at(step, steps, peak, warmup):
    """Linear warmup, then cosine decay to a tenth of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.45 * (1.0 + math.cos(math.pi * frac)))


def batch(rng, corpus):
    starts = rng.integers(0, len(corpus) - CTX - 1, BATCH)
    idx = np.stack([corpus[s:s + CTX] for s in starts]).astype(np.int64)
    tgt = np.stack([corpus[s + 1:s + CTX + 1] for s in starts]).astype(np.int64)
    return idx, tgt


def eval_loss(params, corpus):
    """Loss on a fixed set of windows of the corpus, the same ones every call."""
    rng = np.random.default_rng(1234)
    return float(np.mean([forward(params, *batch(rng, corpus))[0] for _ in range(8)]))


def train(label, params, corpus, steps, peak_lr, seed, frozen=(), wd=0.01):
    params = {k: v.copy() for k, v in params.items()}
    trainable = [k for k in params if k not in frozen]
    opt = Adam(params, trainable, wd)
    rng = np.random.default_rng(seed)
    t0 = time.time()
    print("%s: %d steps, peak lr %g, frozen: %s" % (label, steps, peak_lr,
                                                    ", ".join(frozen) or "none"))
    print("  step %4d  loss %.3f" % (0, eval_loss(params, corpus)))
    warmup = max(1, steps // 20)
    for step in range(steps):
        loss, grads = loss_and_grads(params, *batch(rng, corpus))
        opt.step(params, grads, lr_at(step, steps, peak_lr, warmup))
        if (step + 1) % max(1, steps // 5) == 0:
            print("  step %4d  loss %.3f (batch %.3f)  %.0fs" % (
                step + 1, eval_loss(params, corpus), loss, time.time() - t0))
    return params


# ---------------------------------------------------------------------------------------
# safetensors: 8-byte little-endian header length, a JSON header (padded with spaces to
# a multiple of 8, as the safetensors library does), then the raw little-endian data.

def to_bf16(x):
    """Round-to-nearest-even of float32 to bfloat16 bit patterns, as torch does; NaN stays
    a quiet NaN."""
    u = np.ascontiguousarray(x, dtype="<f4").view("<u4").astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")
    nan = np.isnan(x)
    rounded[nan] = ((u[nan] >> 16) | 0x40).astype("<u2")
    return rounded


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype string, shape, little-endian bytes), in file order."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, _, data in tensors:
            f.write(data)


def read_safetensors(path):
    """{name: (dtype, shape, bytes)} in file order; enough to check what we wrote."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    base = 8 + n
    out = {}
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        lo, hi = info["data_offsets"]
        out[name] = (info["dtype"], info["shape"], raw[base + lo:base + hi])
    return out


def save_model(name, params):
    f32 = [(k, "F32", v.shape, v.astype("<f4").tobytes()) for k, v in params.items()]
    bf16 = [(k, "BF16", v.shape, to_bf16(v).tobytes()) for k, v in params.items()]
    write_safetensors(os.path.join(OUT, name + ".f32.safetensors"), f32)
    write_safetensors(os.path.join(OUT, name + ".bf16.safetensors"), bf16)


# ---------------------------------------------------------------------------------------
# Facts about a fine-tune against its base, over all its tensors' bytes.

def order0_bits(plane):
    """Order-0 entropy of a byte array, in bits per byte."""
    counts = np.bincount(plane, minlength=256).astype(np.float64)
    p = counts[counts > 0] / plane.size
    return float(-(p * np.log2(p)).sum())


def family_facts(base_path, ft_path):
    base, ft = read_safetensors(base_path), read_safetensors(ft_path)
    width = 4 if next(iter(base.values()))[0] == "F32" else 2
    a = np.frombuffer(b"".join(v[2] for v in base.values()), np.uint8).reshape(-1, width)
    b = np.frombuffer(b"".join(ft[k][2] for k in base), np.uint8).reshape(-1, width)
    x = a ^ b
    planes = [order0_bits(x[:, i]) for i in range(width)]
    alone = [order0_bits(b[:, i]) for i in range(width)]
    same_tensors = sum(base[k][2] == ft[k][2] for k in base)
    return {
        "elements": a.shape[0],
        "unchanged": float((x == 0).all(1).mean()),
        "high_byte_unchanged": float((x[:, -1] == 0).mean()),
        "xor_plane_bits": planes,
        "xor_order0_ratio": 8 * width / sum(planes),
        "alone_order0_ratio": 8 * width / sum(alone),
        "identical_tensors": "%d/%d" % (same_tensors, len(base)),
    }


def print_family_facts(finetunes):
    print("\nfine-tune vs base, over all tensors (planes low byte first):")
    for name in finetunes:
        for dtype in ("f32", "bf16"):
            f = family_facts(os.path.join(OUT, "base.%s.safetensors" % dtype),
                             os.path.join(OUT, "%s.%s.safetensors" % (name, dtype)))
            print("  %-9s %-4s  unchanged %.3f  high byte unchanged %.3f  "
                  "identical tensors %s" % (name, dtype, f["unchanged"],
                                            f["high_byte_unchanged"], f["identical_tensors"]))
            print("  %-9s %-4s  XOR plane bits/byte %s -> order-0 bound %.2fx "
                  "(file alone, order-0: %.2fx)" % (
                      "", "", " ".join("%.2f" % p for p in f["xor_plane_bits"]),
                      f["xor_order0_ratio"], f["alone_order0_ratio"]))


def keep_freed_memory():
    """Have glibc reuse freed blocks instead of returning each large temporary to the
    kernel: on a VM where page faults are slow this makes training 2-3x faster. It changes
    no result."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    libc.mallopt(M_MMAP_THRESHOLD, 1 << 28)
    libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)


def main():
    keep_freed_memory()
    corpus_a = load_corpus("GPL-3")
    corpus_b = load_corpus("Apache-2.0")
    corpus_c = load_corpus("MPL-2.0")
    params = init_params(np.random.default_rng(15))
    print("%d parameters in %d tensors" % (sum(v.size for v in params.values()), len(params)))

    # Fine-tuning learning rates are set so that the BF16 XOR planes land near the
    # order-0 bound issue 15 measured on a real family (2.2-2.3x): more and the deltas
    # look like noise, less and nearly every BF16 element stays unchanged.
    base = train("base", params, corpus_a, steps=700, peak_lr=3e-3, seed=1)
    save_model("base", base)
    save_model("ft-a", train("ft-a", base, corpus_b, steps=250, peak_lr=5e-5, seed=2))
    save_model("ft-b", train("ft-b", base, corpus_c, steps=250, peak_lr=3e-5, seed=3))
    save_model("ft-frozen", train("ft-frozen", base, corpus_b, steps=250, peak_lr=5e-5,
                                  seed=4, frozen=EMBEDDINGS))
    print_family_facts(("ft-a", "ft-b", "ft-frozen"))


if __name__ == "__main__":
    main()

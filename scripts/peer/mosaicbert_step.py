#!/usr/bin/env python3
"""The peer of our training step: MosaicBERT's pretraining step in PyTorch, timed on the same token counts.

A MosaicBERT encoder as the upstream code computes it (ALiBi attention without position embeddings, post-LN, GeGLU
with dropout before its output projection, the last layer past its attention and the MLM head on the masked rows
only, the decoder tied to the word embeddings), float32 master weights under bf16 autocast, fused AdamW. Each variant runs warm-up steps, then the
best of --steps is reported with tokens/s and MFU, the FLOPs counted as our benchmark counts them (printed):

  eager-sdpa     eager PyTorch, F.scaled_dot_product_attention with the ALiBi bias as attn_mask
  compiled-sdpa  the same under torch.compile
  compiled-flex  torch.compile with FlexAttention, ALiBi as a score_mod (no bias tensor)

Usage (the GPU machine, PyTorch 2.11 with CUDA):
  python3 scripts/peer/mosaicbert_step.py [--preset base] [--batch 128] [--seq-len 128] [--steps 5] [--out DIR]
With --out, one JSON line {"phase": "peer", ...} is appended to DIR/results.jsonl, as gpu-check.sh's phases write.
--device cpu runs it on the CPU (a check that it runs, not a timing); variants this PyTorch lacks are skipped.
"""
import argparse
import json
import math
import os
import re
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {  # hidden, layers, heads, intermediate (our ModelConfig presets)
    "tiny": (128, 2, 2, 512),
    "base": (768, 12, 12, 3072),
}
VOCAB = 30528  # bert-base-uncased's 30,522 padded to a multiple of 64
H200_BF16_DENSE_TFLOPS = 989.0


def alibi_slopes(n):
    """The upstream slopes: a geometric series for a power of two, interleaved from the next one otherwise."""
    def power_of_two(k):
        start = 2 ** (-(2 ** -(math.log2(k) - 3)))
        return [start * start ** i for i in range(k)]
    if math.log2(n).is_integer():
        return power_of_two(n)
    p = 2 ** math.floor(math.log2(n))
    return power_of_two(p) + power_of_two(2 * p)[0::2][: n - p]


class Layer(nn.Module):
    def __init__(self, h, heads, inter, attention):
        super().__init__()
        self.heads, self.attention = heads, attention
        self.wqkv = nn.Linear(h, 3 * h)
        self.wo = nn.Linear(h, h)
        self.ln1 = nn.LayerNorm(h, eps=1e-12)
        self.gated = nn.Linear(h, 2 * inter, bias=False)
        self.wo2 = nn.Linear(inter, h)
        self.ln2 = nn.LayerNorm(h, eps=1e-12)
        self.inter = inter

    def forward(self, x, bias, rows=None):
        """x [b, s, h] to the output [b * s, h], or of the given flat rows alone (attention still over every key)."""
        b, s, h = x.shape
        q, k, v = self.wqkv(x).view(b, s, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        ctx = self.attention(q, k, v, bias).transpose(1, 2).reshape(b * s, h)
        x = x.reshape(b * s, h)
        if rows is not None:
            ctx, x = ctx.index_select(0, rows), x.index_select(0, rows)
        a = self.ln1(F.dropout(self.wo(ctx), 0.1, self.training) + x)
        g = self.gated(a)
        m = F.gelu(g[..., : self.inter]) * g[..., self.inter:]
        return self.ln2(self.wo2(F.dropout(m, 0.1, self.training)) + a)


class MosaicBert(nn.Module):
    def __init__(self, preset, attention):
        super().__init__()
        h, layers, heads, inter = PRESETS[preset]
        self.word = nn.Embedding(VOCAB, h)
        self.token_type = nn.Embedding(2, h)
        self.ln = nn.LayerNorm(h, eps=1e-12)
        self.layers = nn.ModuleList(Layer(h, heads, inter, attention) for _ in range(layers))
        self.dense = nn.Linear(h, h)
        self.head_ln = nn.LayerNorm(h, eps=1e-12)
        self.decoder_bias = nn.Parameter(torch.zeros(VOCAB))
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, ids, bias, masked_rows, labels):
        x = F.dropout(self.ln(self.word(ids) + self.token_type(torch.zeros_like(ids))), 0.1, self.training)
        b, s, h = x.shape
        for layer in self.layers[:-1]:
            x = layer(x, bias).view(b, s, h)
        x = self.layers[-1](x, bias, masked_rows)  # past its attention, the masked rows only, as upstream
        t = F.gelu(self.dense(x))
        t = self.head_ln(t.float())  # LayerNorm in float32, as CUDA's autocast runs it (CPU's leaves it to us)
        logits = t @ self.word.weight.t() + self.decoder_bias
        return F.cross_entropy(logits.float(), labels)


def sdpa(q, k, v, bias):
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + bias  # PyTorch before 2.0
    return scores.softmax(-1).to(v.dtype) @ v


def flex(slopes):
    from torch.nn.attention.flex_attention import flex_attention

    def score_mod(score, b, h, q_idx, kv_idx):
        return score - slopes[h] * (q_idx - kv_idx).abs()

    return lambda q, k, v, bias: flex_attention(q, k, v, score_mod=score_mod)


def model_flops(preset, batch, seq_len, masked):
    """Our benchmark's count: 6 x encoder parameters x tokens, attention's 12·L·h·B·S², the head on masked rows."""
    h, layers, _, inter = PRESETS[preset]
    encoder = layers * (4 * h * h + 3 * h * inter + 9 * h) + 2 * h
    tokens = batch * seq_len
    return 6.0 * encoder * tokens + 12.0 * layers * h * batch * seq_len ** 2 + 6.0 * masked * (h * h + h * VOCAB)


def time_variant(name, preset, attention, batch, seq_len, mask_share, steps, device, compile_it):
    torch.manual_seed(1)
    model = MosaicBert(preset, attention).to(device)
    heads = PRESETS[preset][2]
    slopes = torch.tensor(alibi_slopes(heads), device=device)
    pos = torch.arange(seq_len, device=device)
    bias = (-slopes[:, None, None] * (pos[None, :, None] - pos[None, None, :]).abs()).unsqueeze(0)
    ids = torch.randint(5, VOCAB, (batch, seq_len), device=device)
    masked_rows = (torch.rand(batch * seq_len, device=device) < mask_share).nonzero().squeeze(1)
    labels = ids.flatten().index_select(0, masked_rows)
    fused = {"fused": True} if device == "cuda" else {}
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=1e-5,
                                  **fused)
    step_model = torch.compile(model) if compile_it else model
    model.train()

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16):
            loss = step_model(ids, bias, masked_rows, labels)
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(3):  # warm-up: compilation, autotuning, allocator
        step()
    best, loss = float("inf"), float("nan")
    for _ in range(steps):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = step().item()  # reading the loss waits for the step
        best = min(best, time.perf_counter() - t0)
    flops = model_flops(preset, batch, seq_len, masked_rows.numel())
    tflops = flops / best / 1e12
    return {"variant": name, "seconds": best, "tokens_per_s": batch * seq_len / best, "tflops": tflops,
            "mfu": tflops / H200_BF16_DENSE_TFLOPS, "loss": loss, "gflop": flops / 1e9}


def our_step_seconds(out):
    """Our step time from the same run's benchmark phase (gpu-check.sh run writes it before this one), or None."""
    path = os.path.join(out or "", "results.jsonl")
    if not out or not os.path.exists(path):
        return None
    for line in open(path):
        phase = json.loads(line)
        found = re.search(r"training step \(best of \d+\): ([0-9.]+) s", phase.get("summary", ""))
        if phase.get("phase") == "benchmark" and phase.get("status") == "pass" and found:
            return float(found.group(1))
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="base", choices=sorted(PRESETS))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--mask", type=float, default=0.15, help="masked share (our GPU benchmark's batch: 0.15)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--out", help="append a JSON line to OUT/results.jsonl")
    args = parser.parse_args()
    t0 = time.perf_counter()
    print(f"PyTorch {torch.__version__}, {args.preset} at {args.batch} x {args.seq_len}, {args.device}")
    slopes = torch.tensor(alibi_slopes(PRESETS[args.preset][2]), device=args.device)
    variants = [("eager-sdpa", sdpa, False)]
    if hasattr(torch, "compile"):
        variants.append(("compiled-sdpa", sdpa, True))
        try:
            variants.append(("compiled-flex", flex(slopes), True))
        except ImportError:
            print("compiled-flex: skipped (no FlexAttention in this PyTorch)")
    else:
        print("compiled variants: skipped (no torch.compile in this PyTorch)")
    results, failures = [], []
    for name, attention, compile_it in variants:
        try:
            r = time_variant(name, args.preset, attention, args.batch, args.seq_len, args.mask, args.steps,
                             args.device, compile_it)
        except Exception as e:  # one variant failing (a compiler error) must not hide the others
            failures.append(f"{name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            print(failures[-1])
            continue
        results.append(r)
        print(f"{name}: {r['seconds'] * 1e3:.1f} ms a step (best of {args.steps}), {r['tokens_per_s']:.0f} tokens/s, "
              f"{r['tflops']:.1f} model TFLOP/s, MFU {100 * r['mfu']:.1f}% of {H200_BF16_DENSE_TFLOPS:.0f}, "
              f"loss {r['loss']:.4f} ({r['gflop']:.1f} GFLOP a step)")
    summary = "; ".join(f"{r['variant']} {r['seconds'] * 1e3:.1f} ms ({r['tokens_per_s']:.0f} tokens/s, MFU "
                        f"{100 * r['mfu']:.1f}%)" for r in results)
    summary = f"PyTorch {torch.__version__}, {args.preset} {args.batch}x{args.seq_len}: " + (summary or "nothing ran")
    ours = our_step_seconds(args.out)
    if ours and results:
        best = min(r["seconds"] for r in results)
        summary += f"; ours {ours * 1e3:.1f} ms, ours / PyTorch's best = {ours / best:.2f} (below 1: ours is faster)"
        print(summary)
    if failures:
        summary += "; failed: " + "; ".join(failures)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.jsonl"), "a") as f:
            f.write(json.dumps({"phase": "peer", "status": "pass" if results else "fail",
                                "seconds": round(time.perf_counter() - t0, 1), "summary": summary}) + "\n")
    return 0 if results else 1


if __name__ == "__main__":
    raise SystemExit(main())

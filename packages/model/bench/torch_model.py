"""The PyTorch peer of `pnpm --filter @ds/model bench` (docs/compute.md §5): the same DeepSeek-V3.2 model as
@ds/model, written from the reference `inference/model.py` in plain float32 PyTorch, timed on the same shapes.

    h_0 = Embed(x);  block l:  h += MLA_DSA(RMSNorm(h));  h += (l < n_dense ? SwiGLU : MoE)(RMSNorm(h))
    logits = RMSNorm(h_L) @ head^T

What it implements, exactly as @ds/model does:
  - MLA with the query LoRA (wq_a, q_norm, wq_b), the KV latent (wkv_a, kv_norm, wkv_b), interleaved RoPE on the
    rope dims, softmax scale qk_head_dim^-1/2 * mscale^2 (YaRN only when max_seq_len > original_seq_len).
  - The lightning indexer (wq_b from the query latent, wk + LayerNorm, half-split RoPE on the first R dims,
    weights_proj * H_I^-1/2 * d_I^-1/2), I = sum_h w_h ReLU(q_h . k), top-k over the causal prefix, the index mask
    added to the attention logits. Its inputs are detached, so it takes no gradient (as in @ds/model). At T = 128
    with index_topk = 64 the selection is NOT a no-op: queries past position 63 attend to 64 keys.
    No Hadamard rotation and no FP8 (float32 throughout, as @ds/model).
  - Prefill/training: the reference MHA path (per-head keys/values from the latent). Decode: the reference absorbed
    MQA path over a latent cache [c_KV ; k_rope] and an indexer-key cache.
  - DeepSeekMoE: sigmoid router with the selection bias, group-limited top-k, normalised weights, route_scale, a
    loop over experts on their tokens (as the reference), plus the shared expert; a dense SwiGLU first block.
  - Training step: mean next-token cross-entropy over B*T positions, backward, global-norm clipping (1.0), AdamW
    (betas 0.9/0.95, eps 1e-8, weight decay 0.1 on matrices only, lr 1e-4), then the aux-loss-free gate-bias
    update (speed 1e-3). Gate biases and the indexer are not updated by AdamW, as in @ds/model.

Reads a JSON request on stdin: {"config": ModelArgs, "train": [B, T], "decode": [[B, prefill], ...],
"repeats": n, "params": path?}. With "params" (raw little-endian float32 in the order of "names"/"shapes") it loads
those weights and reports the loss of the first step, so the bench can check both sides run the same function.
Writes one JSON line with the rates to stdout.
"""

import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn


def rope_frequencies(a):
    r = a["qk_rope_head_dim"]
    freqs = 1.0 / (a["rope_theta"] ** (torch.arange(0, r, 2, dtype=torch.float32) / r))
    if a["max_seq_len"] > a["original_seq_len"]:
        def dim(rot):
            return r * math.log(a["original_seq_len"] / (rot * 2 * math.pi)) / (2 * math.log(a["rope_theta"]))
        low = max(math.floor(dim(a["beta_fast"])), 0)
        high = min(math.ceil(dim(a["beta_slow"])), r - 1)
        span = 0.001 if low == high else high - low
        ramp = torch.clamp((torch.arange(r // 2, dtype=torch.float32) - low) / span, 0, 1)
        smooth = 1 - ramp
        freqs = freqs / a["rope_factor"] * (1 - smooth) + freqs * smooth
    return freqs


def rope(x, cos, sin, interleaved):
    """x [B, T, H, R]; cos/sin [T, R/2] (same positions for every sequence)."""
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    if interleaved:
        a, b = x[..., 0::2], x[..., 1::2]
        return torch.stack([a * c - b * s, a * s + b * c], -1).flatten(-2)
    a, b = x.chunk(2, -1)
    return torch.cat([a * c - b * s, a * s + b * c], -1)


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class Linear(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(o, i) / math.sqrt(i))

    def forward(self, x):
        return F.linear(x, self.weight)


class Indexer(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.h, self.d, self.r, self.k = a["index_n_heads"], a["index_head_dim"], a["qk_rope_head_dim"], a["index_topk"]
        self.wq_b = Linear(a["q_lora_rank"], self.h * self.d)
        self.wk = Linear(a["dim"], self.d)
        self.k_norm = nn.LayerNorm(self.d, eps=1e-6)
        self.weights_proj = Linear(a["dim"], self.h)

    def keys(self, x, cos, sin):
        k = self.k_norm(self.wk(x)).unsqueeze(2)
        return torch.cat([rope(k[..., : self.r], cos, sin, False), k[..., self.r :]], -1).squeeze(2)

    def forward(self, x, qr, cos, sin, keys, causal):
        """x [B, T, dim], qr [B, T, q_lora] (both detached), keys [B, E, d] -> additive index mask [B, T, E]."""
        b, t, _ = x.shape
        q = self.wq_b(qr).view(b, t, self.h, self.d)
        q = torch.cat([rope(q[..., : self.r], cos, sin, False), q[..., self.r :]], -1)
        w = self.weights_proj(x) * (self.h**-0.5 * self.d**-0.5)
        scores = torch.einsum("bthd,bsd->bths", q, keys).relu_()
        scores = torch.einsum("bths,bth->bts", scores, w) + causal
        top = scores.topk(min(self.k, keys.shape[1]), -1).indices
        return torch.full_like(scores, float("-inf")).scatter_(-1, top, 0.0)


class MLA(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.h, self.nope, self.r = a["n_heads"], a["qk_nope_head_dim"], a["qk_rope_head_dim"]
        self.v, self.lora = a["v_head_dim"], a["kv_lora_rank"]
        self.wq_a = Linear(a["dim"], a["q_lora_rank"])
        self.q_norm = RMSNorm(a["q_lora_rank"])
        self.wq_b = Linear(a["q_lora_rank"], self.h * (self.nope + self.r))
        self.wkv_a = Linear(a["dim"], self.lora + self.r)
        self.kv_norm = RMSNorm(self.lora)
        self.wkv_b = Linear(self.lora, self.h * (self.nope + self.v))
        self.wo = Linear(self.h * self.v, a["dim"])
        self.indexer = Indexer(a)
        mscale = 0.1 * a["mscale"] * math.log(a["rope_factor"]) + 1 if a["max_seq_len"] > a["original_seq_len"] else 1
        self.scale = (self.nope + self.r) ** -0.5 * mscale**2
        self.cache = None

    def forward(self, x, start, cos, sin, causal):
        b, t, _ = x.shape
        qr = self.q_norm(self.wq_a(x))
        q = self.wq_b(qr).view(b, t, self.h, self.nope + self.r)
        q_nope, q_pe = q.split([self.nope, self.r], -1)
        q_pe = rope(q_pe, cos, sin, True)
        kv, k_pe = self.wkv_a(x).split([self.lora, self.r], -1)
        kv = self.kv_norm(kv)
        k_pe = rope(k_pe.unsqueeze(2), cos, sin, True).squeeze(2)
        index_keys = self.indexer.keys(x.detach(), cos, sin)
        if self.cache is not None:
            kv_cache, pe_cache, key_cache = self.cache
            kv_cache[:b, start : start + t] = kv
            pe_cache[:b, start : start + t] = k_pe
            key_cache[:b, start : start + t] = index_keys
            end = start + t
            kv, k_pe, index_keys = kv_cache[:b, :end], pe_cache[:b, :end], key_cache[:b, :end]
        index_mask = self.indexer(x.detach(), qr.detach(), cos, sin, index_keys, causal)
        if t > 1:  # reference prefill: MHA over per-head keys and values
            up = self.wkv_b(kv).view(b, -1, self.h, self.nope + self.v)
            k_nope, values = up.split([self.nope, self.v], -1)
            keys = torch.cat([k_nope, k_pe.unsqueeze(2).expand(-1, -1, self.h, -1)], -1)
            scores = torch.einsum("bthd,bshd->bths", torch.cat([q_nope, q_pe], -1), keys) * self.scale
            scores = scores + index_mask.unsqueeze(2) + causal[:, None, :]
            o = torch.einsum("bths,bshd->bthd", scores.softmax(-1), values)
        else:  # reference decode: absorbed MQA over the latent cache
            w = self.wkv_b.weight.view(self.h, self.nope + self.v, self.lora)
            q_abs = torch.einsum("bthd,hdc->bthc", q_nope, w[:, : self.nope])
            scores = (torch.einsum("bthc,bsc->bths", q_abs, kv) + torch.einsum("bthr,bsr->bths", q_pe, k_pe)) * self.scale
            scores = scores + index_mask.unsqueeze(2)
            o = torch.einsum("bths,bsc->bthc", scores.softmax(-1), kv)
            o = torch.einsum("bthc,hdc->bthd", o, w[:, self.nope :])
        return self.wo(o.flatten(2))


class SwiGLU(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.w1, self.w2, self.w3 = Linear(dim, hidden), Linear(hidden, dim), Linear(dim, hidden)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Gate(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.k, self.groups, self.limited = a["n_activated_experts"], a["n_expert_groups"], a["n_limited_groups"]
        self.route_scale, self.sigmoid = a["route_scale"], a["score_func"] == "sigmoid"
        self.weight = nn.Parameter(torch.randn(a["n_routed_experts"], a["dim"]) / math.sqrt(a["dim"]))
        self.bias = nn.Parameter(torch.zeros(a["n_routed_experts"]), requires_grad=False)

    def forward(self, x):
        scores = F.linear(x, self.weight)
        scores = scores.sigmoid() if self.sigmoid else scores.softmax(-1)
        original = scores
        biased = scores.detach() + self.bias
        if self.groups > 1:
            grouped = biased.view(x.size(0), self.groups, -1)
            group_scores = grouped.topk(min(2, grouped.size(-1)), -1).values.sum(-1)
            keep = group_scores.topk(self.limited, -1).indices
            drop = torch.ones_like(group_scores, dtype=torch.bool).scatter_(1, keep, False)
            biased = grouped.masked_fill(drop.unsqueeze(-1), float("-inf")).flatten(1)
        indices = biased.topk(self.k, -1).indices
        weights = original.gather(1, indices)
        if self.sigmoid:
            weights = weights / weights.sum(-1, keepdim=True)
        return weights * self.route_scale, indices


class MoE(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.gate = Gate(a)
        self.experts = nn.ModuleList(SwiGLU(a["dim"], a["moe_inter_dim"]) for _ in range(a["n_routed_experts"]))
        self.shared_experts = SwiGLU(a["dim"], a["n_shared_experts"] * a["moe_inter_dim"])
        self.load = None

    def forward(self, x):
        shape = x.shape
        x = x.view(-1, shape[-1])
        weights, indices = self.gate(x)
        y = torch.zeros_like(x)
        counts = torch.bincount(indices.flatten(), minlength=len(self.experts))
        self.load = counts
        for i, n in enumerate(counts.tolist()):
            if n == 0:
                continue
            idx, top = torch.where(indices == i)
            y = y.index_add(0, idx, self.experts[i](x[idx]) * weights[idx, top, None])
        return (y + self.shared_experts(x)).view(shape)


class Block(nn.Module):
    def __init__(self, a, layer):
        super().__init__()
        self.attn = MLA(a)
        self.ffn = SwiGLU(a["dim"], a["inter_dim"]) if layer < a["n_dense_layers"] else MoE(a)
        self.attn_norm, self.ffn_norm = RMSNorm(a["dim"]), RMSNorm(a["dim"])

    def forward(self, x, start, cos, sin, causal):
        x = x + self.attn(self.attn_norm(x), start, cos, sin, causal)
        return x + self.ffn(self.ffn_norm(x))


class Transformer(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed = nn.Embedding(a["vocab_size"], a["dim"])
        self.layers = nn.ModuleList(Block(a, l) for l in range(a["n_layers"]))
        self.norm = RMSNorm(a["dim"])
        self.head = Linear(a["dim"], a["vocab_size"])
        self.register_buffer("freqs", rope_frequencies(a), persistent=False)

    def forward(self, tokens, start=0):
        t = tokens.size(1)
        angles = torch.outer(torch.arange(start, start + t, dtype=torch.float32), self.freqs)
        cos, sin = angles.cos(), angles.sin()
        keys = start + t
        causal = torch.full((t, keys), float("-inf")).triu_(start + 1)
        h = self.embed(tokens)
        for layer in self.layers:
            h = layer(h, start, cos, sin, causal)
        return self.head(self.norm(h))


def load_params(model, request):
    raw = torch.frombuffer(bytearray(open(request["params"], "rb").read()), dtype=torch.float32)
    state, offset = {}, 0
    for name, shape in zip(request["names"], request["shapes"]):
        n = math.prod(shape)
        state[name] = raw[offset : offset + n].view(shape)
        offset += n
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if m != "freqs"]:
        raise SystemExit(f"torch_model.py: parameter names differ: missing {missing}, unexpected {unexpected}")


def optimizer_for(model):
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad and ".indexer." not in n]
    groups = [
        {"params": [p for _, p in trained if p.dim() >= 2], "weight_decay": 0.1},
        {"params": [p for _, p in trained if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=1e-4, betas=(0.9, 0.95), eps=1e-8), [p for _, p in trained]


def train_step(model, optimizer, trained, inputs, targets, vocab):
    logits = model(inputs)
    loss = F.cross_entropy(logits.view(-1, vocab), targets.view(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(trained, 1.0)
    optimizer.step()
    with torch.no_grad():
        for layer in model.layers:
            if isinstance(layer.ffn, MoE):
                load = layer.ffn.load.float()
                layer.ffn.gate.bias += 1e-3 * torch.sign(load.mean() - load)
    return loss.item()


def median_seconds(fn, repeats, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        fn()
        times.append(time.perf_counter() - begin)
    return sorted(times)[len(times) // 2]


def measure_decode(model, a, batch, prefill, repeats):
    for layer in model.layers:
        capacity = prefill + 64
        layer.attn.cache = (
            torch.zeros(batch, capacity, a["kv_lora_rank"]),
            torch.zeros(batch, capacity, a["qk_rope_head_dim"]),
            torch.zeros(batch, capacity, a["index_head_dim"]),
        )
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        model(torch.randint(0, a["vocab_size"], (batch, prefill), generator=generator), 0)
        step = lambda: model(torch.randint(0, a["vocab_size"], (batch, 1), generator=generator), prefill)
        seconds = median_seconds(step, repeats, 2)
    for layer in model.layers:
        layer.attn.cache = None
    return batch / seconds


def main():
    request = json.load(sys.stdin)
    torch.set_num_threads(request.get("threads", os.cpu_count() or 1))
    torch.manual_seed(0)
    a = request["config"]
    model = Transformer(a)
    if "params" in request:
        load_params(model, request)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    b, t = request["train"]
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randint(0, a["vocab_size"], (b, t), generator=generator)
    targets = torch.randint(0, a["vocab_size"], (b, t), generator=generator)
    if "inputs" in request:
        inputs = torch.tensor(request["inputs"], dtype=torch.long).view(b, t)
        targets = torch.tensor(request["targets"], dtype=torch.long).view(b, t)
    optimizer, trained = optimizer_for(model)
    result["firstLoss"] = train_step(model, optimizer, trained, inputs, targets, a["vocab_size"])
    seconds = median_seconds(
        lambda: train_step(model, optimizer, trained, inputs, targets, a["vocab_size"]), request["repeats"], 0
    )
    result["trainTokensPerSecond"] = b * t / seconds
    result["decodeTokensPerSecond"] = {
        str(batch): measure_decode(model, a, batch, prefill, 16) for batch, prefill in request["decode"]
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

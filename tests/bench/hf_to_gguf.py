#!/usr/bin/env python3
"""Converts a Nemotron-H checkpoint in the HF format into a GGUF for llama.cpp.

This is the model half of the llama.cpp peer benchmark (issue #6, tests/bench/run_llamacpp_peer.sh):
llama.cpp runs the same weights that Airlock's engine runs. Nothing in Airlock reads GGUF.

    build/llamacpp-venv/bin/python tests/bench/hf_to_gguf.py MODEL_DIR OUT.gguf [--outtype bf16]

MODEL_DIR holds config.json, tokenizer.json and *.safetensors (the NVIDIA layout, or what
`airlock model synth` writes). Needs only numpy and PyPI `gguf` (scripts/llamacpp-venv.sh makes a
venv with both); no torch, no transformers.

The output is meant to be what llama.cpp's own convert_hf_to_gguf.py writes for this architecture
(NemotronHModel in conversion/nemotron.py, with its bases GraniteHybridModel, Mamba2Model,
GraniteMoeModel, LlamaModel and TextModel, in the llama.cpp vendored by llama-cpp-python 0.3.36),
and the spec, docs/nemotron-h-spec.md §3.2 and §3.3:

  * arch `nemotron_h_moe` when config.json has num_experts_per_tok, else `nemotron_h`;
  * tensors are read as F32 and written in the requested type, except what the reference keeps in
    F32: 1-D tensors, *_norm.weight, the router (ffn_gate_inp), ssm_conv1d, and every tensor whose
    name does not end in `.weight` (ssm_a, ssm_d, the biases). BF16 sources written as BF16 are
    copied bit for bit (the reference's F32 -> BF16 rounding is exact on them);
  * A_log -> A = -exp(A_log) reshaped to [H, 1]; D reshaped to [H, 1]; conv1d.weight squeezed to
    [C, K]; the gated norm reshaped to [n_groups, d_inner / n_groups]; dt_bias -> ssm_dt.bias;
  * routed experts stacked into ffn_up_exps / ffn_down_exps [E, out, in];
  * q_proj / k_proj permuted per head as LlamaModel does (undo_permute; no numerical effect here,
    since Nemotron-H has no RoPE and q and k get the same permutation);
  * the metadata keys the reference's set_gguf_parameters chain writes (from config.json), the
    general.* keys from gguf.Metadata, and a gpt2-style BPE vocabulary from tokenizer.json.

Deviations, all for inputs the reference cannot read or we cannot run:
  * The reference reads config.json through transformers' AutoConfig when it can; that may add
    default keys (max_position_embeddings, rope_theta, ...). Here config.json is read as is (the
    reference's own fallback). The keys the nemotron_h loader uses come out the same.
  * The reference picks tokenizer.ggml.pre from a hash of the encoding of a fixed text, and fails
    on an unknown vocabulary (e.g. a synthetic one). Here it comes from the tokenizer.json Split
    regex: the Tekken regex of Nemotron 3 Nano gives `pixtral` (what its real GGUFs carry);
    --pre overrides it.
  * Also accepted: the `model.` prefix, `embedding.` for `embeddings.`, and experts already fused
    into 3-D experts.up_proj / experts.down_proj tensors.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path

import numpy as np

import gguf

log = logging.getLogger("hf_to_gguf")

# The Split regex of the Tekken / Nemotron 3 Nano tokenizer, which llama.cpp calls `pixtral`.
TEKKEN_SPLIT = (
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
)
KNOWN_PRE = {TEKKEN_SPLIT: "pixtral"}


# --- safetensors, read with numpy ---------------------------------------------------------------


class Tensor:
    """One safetensors tensor: its dtype name, shape and raw bytes (a memory-mapped view)."""

    NUMPY = {"BF16": np.uint16, "F16": np.float16, "F32": np.float32}

    def __init__(self, dtype: str, shape: list[int], data: np.ndarray):
        if dtype not in self.NUMPY:
            raise ValueError(f"unsupported safetensors dtype {dtype}")
        self.dtype = dtype
        self.shape = tuple(shape)
        self.raw = data.view(self.NUMPY[dtype]).reshape(self.shape)

    def f32(self) -> np.ndarray:
        if self.dtype == "BF16":
            return (self.raw.astype(np.uint32) << 16).view(np.float32)
        return self.raw.astype(np.float32)


def read_safetensors(model_dir: Path) -> dict[str, Tensor]:
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise SystemExit(f"hf_to_gguf: no *.safetensors in {model_dir}")
    tensors: dict[str, Tensor] = {}
    for path in files:
        with open(path, "rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(header_len))
        blob = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_len)
        for name, info in header.items():
            if name == "__metadata__":
                continue
            begin, end = info["data_offsets"]
            tensors[name] = Tensor(info["dtype"], info["shape"], blob[begin:end])
    return tensors


def normalize_name(name: str) -> str | None:
    """Maps the accepted spellings onto the NVIDIA names (backbone.*); None drops the tensor."""
    if name.startswith("mtp."):
        return None  # the MTP head; the reference exports it only on request (--mtp)
    if name.startswith("model."):
        name = "backbone." + name[len("model.") :]
    return name.replace("backbone.embedding.", "backbone.embeddings.")


# --- the conversion -----------------------------------------------------------------------------


class Converter:
    def __init__(self, model_dir: Path, outtype: str, pre: str | None):
        self.dir = model_dir
        self.outtype = outtype
        self.pre = pre
        with open(model_dir / "config.json", encoding="utf-8") as f:
            self.hp = json.load(f)  # Python's json accepts the `Infinity` in time_step_limit
        hp = self.hp
        self.is_moe = "num_experts_per_tok" in hp
        self.arch = gguf.MODEL_ARCH.NEMOTRON_H_MOE if self.is_moe else gguf.MODEL_ARCH.NEMOTRON_H
        pattern = hp.get("hybrid_override_pattern") or hp.get("layers_block_type")
        if isinstance(pattern, str):
            self.kinds = list(pattern)
        else:  # newer configs: a list of layer type names
            names = {"mamba": "M", "linear_attention": "M", "attention": "*", "full_attention": "*"}
            names.update({"moe": "E", "mlp": "-"})
            self.kinds = [names[t] for t in pattern]
        self.n_layer = len(self.kinds)
        if self.is_moe and "-" in self.kinds:
            # llama.cpp tells layer kinds apart by n_ff and n_head_kv alone: in nemotron_h_moe every
            # layer with n_ff > 0 is MoE, so a dense `-` layer has no representation.
            raise SystemExit("hf_to_gguf: a MoE model with dense `-` layers cannot be written for "
                             "llama.cpp (nemotron_h_moe has no dense MLP layers)")
        self.attn_layers = [i for i, k in enumerate(self.kinds) if k == "*"]
        mlp_kind = "E" if self.is_moe else "-"
        self.mlp_layers = [i for i, k in enumerate(self.kinds) if k == mlp_kind]
        self.n_group = hp["n_groups"]
        self.d_inner = hp["mamba_num_heads"] * hp["mamba_head_dim"]  # not expand * hidden_size
        self.head_dim = hp.get("head_dim", hp.get("attention_head_dim"))
        self.ftype = {
            "f32": gguf.LlamaFileType.ALL_F32,
            "f16": gguf.LlamaFileType.MOSTLY_F16,
            "bf16": gguf.LlamaFileType.MOSTLY_BF16,
        }[outtype]

    def name(self, key: gguf.MODEL_TENSOR, bid: int | None = None, suffix: str = ".weight") -> str:
        if key not in gguf.MODEL_TENSORS[self.arch]:
            raise ValueError(f"{key!r} is not a tensor of {gguf.MODEL_ARCH_NAMES[self.arch]}")
        return gguf.TENSOR_NAMES[key].format(bid=bid) + suffix

    # Each yields (gguf name, tensor, array or None); the array, when given, replaces the tensor's
    # data (a transform was applied, so it is F32).
    def map_tensor(self, hf: str, t: Tensor):
        T = gguf.MODEL_TENSOR
        top = {
            "backbone.embeddings.weight": T.TOKEN_EMBD,
            "backbone.norm_f.weight": T.OUTPUT_NORM,
            "lm_head.weight": T.OUTPUT,
        }
        if hf in top:
            yield self.name(top[hf]), t, None
            return
        m = re.fullmatch(r"backbone\.layers\.(\d+)\.(.+)", hf)
        if not m:
            raise ValueError(f"unexpected tensor {hf}")
        bid, rest = int(m.group(1)), m.group(2)
        if rest == "norm.weight":
            yield self.name(T.ATTN_NORM, bid), t, None
            return
        mixer = rest.removeprefix("mixer.")
        hp = self.hp

        # Mamba2 mixer
        if mixer == "in_proj.weight":
            yield self.name(T.SSM_IN, bid), t, None
        elif mixer == "conv1d.weight":
            yield self.name(T.SSM_CONV1D, bid), t, t.f32().squeeze()
        elif mixer == "conv1d.bias":
            yield self.name(T.SSM_CONV1D, bid, ".bias"), t, None
        elif mixer == "dt_bias":
            yield self.name(T.SSM_DT, bid, ".bias"), t, None
        elif mixer == "A_log":
            yield self.name(T.SSM_A, bid, ""), t, (-np.exp(t.f32())).reshape(-1, 1)
        elif mixer == "D":
            yield self.name(T.SSM_D, bid, ""), t, t.f32().reshape(-1, 1)
        elif mixer == "norm.weight":
            yield self.name(T.SSM_NORM, bid), t, t.f32().reshape(self.n_group, -1)
        elif mixer == "out_proj.weight":
            yield self.name(T.SSM_OUT, bid), t, None

        # attention: q and k permuted per head as LlamaModel.permute does
        elif mixer in ("q_proj.weight", "k_proj.weight"):
            n_head = hp["num_attention_heads"]
            if mixer == "k_proj.weight":
                n_head = hp["num_key_value_heads"]
            w = t.raw
            permuted = w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            permuted = permuted.swapaxes(1, 2).reshape(w.shape)
            key = T.ATTN_Q if mixer == "q_proj.weight" else T.ATTN_K
            permuted = Tensor(t.dtype, list(w.shape), np.ascontiguousarray(permuted))
            yield self.name(key, bid), permuted, None
        elif mixer == "v_proj.weight":
            yield self.name(T.ATTN_V, bid), t, None
        elif mixer == "o_proj.weight":
            yield self.name(T.ATTN_OUT, bid), t, None

        # MoE
        elif mixer == "gate.weight":
            yield self.name(T.FFN_GATE_INP, bid), t, None
        elif mixer == "gate.e_score_correction_bias":
            yield self.name(T.FFN_EXP_PROBS_B, bid, ".bias"), t, None
        elif mixer in ("shared_experts.up_proj.weight", "shared_experts.down_proj.weight"):
            key = T.FFN_UP_SHEXP if "up_proj" in mixer else T.FFN_DOWN_SHEXP
            yield self.name(key, bid), t, None
        elif mixer in ("experts.up_proj", "experts.down_proj", "experts.up_proj.weight",
                       "experts.down_proj.weight"):  # already fused: [E, out, in]
            key = T.FFN_UP_EXP if "up_proj" in mixer else T.FFN_DOWN_EXP
            yield self.name(key, bid), t, None

        # dense MLP (`-` layers)
        elif mixer in ("up_proj.weight", "down_proj.weight"):
            key = T.FFN_UP if "up_proj" in mixer else T.FFN_DOWN
            yield self.name(key, bid), t, None
        else:
            raise ValueError(f"unexpected tensor {hf}")

    def stack_experts(self, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
        """Replaces per-expert tensors with one [E, out, in] tensor per layer and projection."""
        pat = re.compile(
            r"backbone\.layers\.(\d+)\.mixer\.experts\.(\d+)\.(up_proj|down_proj)\.weight")
        groups: dict[tuple[int, str], dict[int, Tensor]] = {}
        out: dict[str, Tensor] = {}
        for name, t in tensors.items():
            m = pat.fullmatch(name)
            if m:
                groups.setdefault((int(m.group(1)), m.group(3)), {})[int(m.group(2))] = t
            else:
                out[name] = t
        n_experts = self.hp.get("n_routed_experts", 0)
        for (bid, proj), experts in sorted(groups.items()):
            if sorted(experts) != list(range(n_experts)):
                raise ValueError(
                    f"layer {bid}: {proj} has experts {sorted(experts)}, want 0..{n_experts - 1}")
            first = experts[0]
            if any(e.dtype != first.dtype or e.shape != first.shape for e in experts.values()):
                raise ValueError(f"layer {bid}: {proj} experts differ in dtype or shape")
            stacked = np.stack([experts[e].raw for e in range(n_experts)])
            out[f"backbone.layers.{bid}.mixer.experts.{proj}.weight"] = Tensor(
                first.dtype, list(stacked.shape), stacked)
        return out

    def qtype(self, gguf_name: str, n_dims: int) -> gguf.GGMLQuantizationType:
        Q = gguf.GGMLQuantizationType
        keep_f32 = (
            n_dims <= 1
            or gguf_name.endswith("_norm.weight")
            or not gguf_name.endswith(".weight")
            or re.fullmatch(r"blk\.\d+\.(ffn_gate_inp|ssm_conv1d)\.weight", gguf_name) is not None
        )
        if keep_f32:
            return Q.F32
        return {"f32": Q.F32, "f16": Q.F16, "bf16": Q.BF16}[self.outtype]

    def add_tensors(self, writer: gguf.GGUFWriter) -> None:
        tensors = {}
        for name, t in read_safetensors(self.dir).items():
            if (norm := normalize_name(name)) is not None:
                tensors[norm] = t
        if self.is_moe:
            tensors = self.stack_experts(tensors)
        Q = gguf.GGMLQuantizationType
        for hf in sorted(tensors):
            for gname, t, data in self.map_tensor(hf, tensors[hf]):
                shape = data.shape if data is not None else t.shape
                qtype = self.qtype(gname, len(shape))
                if qtype == Q.BF16 and data is None and t.dtype == "BF16":
                    writer.add_tensor(gname, t.raw, raw_dtype=Q.BF16)  # bit-exact copy
                    continue
                f32 = data if data is not None else t.f32()
                if qtype == Q.F32:
                    writer.add_tensor(gname, np.ascontiguousarray(f32, dtype=np.float32))
                elif qtype == Q.F16:
                    writer.add_tensor(gname, f32.astype(np.float16))
                else:
                    writer.add_tensor(gname, gguf.quants.quantize(f32, Q.BF16), raw_dtype=Q.BF16)
                log.debug("%s -> %s %s %s", hf, gname, qtype.name, shape)

    def add_parameters(self, w: gguf.GGUFWriter) -> None:
        """The keys of NemotronHModel.set_gguf_parameters and its bases, in their order."""
        hp, n = self.hp, self.n_layer
        # TextModel
        w.add_block_count(n)
        if (n_ctx := hp.get("max_position_embeddings")) is not None:
            w.add_context_length(n_ctx)
        w.add_embedding_length(hp["hidden_size"])
        if (n_ff := hp.get("intermediate_size")) is not None:
            w.add_feed_forward_length(n_ff)
        w.add_head_count(hp["num_attention_heads"])
        w.add_head_count_kv(hp["num_key_value_heads"])
        if (rope_theta := hp.get("rope_theta")) is not None:
            w.add_rope_freq_base(rope_theta)
        rms_keys = ("rms_norm_eps", "norm_eps")
        if (rms_eps := next((hp[k] for k in rms_keys if k in hp), None)) is not None:
            w.add_layer_norm_rms_eps(rms_eps)
        eps_keys = ("layer_norm_eps", "layer_norm_epsilon", "norm_epsilon")
        if (eps := next((hp[k] for k in eps_keys if k in hp), None)) is not None:
            w.add_layer_norm_eps(eps)
        if (n_experts := hp.get("n_routed_experts")) is not None:
            w.add_expert_count(n_experts)
        if (n_used := hp.get("num_experts_per_tok")) is not None:
            w.add_expert_used_count(n_used)
        if (n_group := hp.get("n_group")) is not None:
            w.add_expert_group_count(n_group)
        if (topk_group := hp.get("topk_group")) is not None:
            w.add_expert_group_used_count(topk_group)
        w.add_file_type(self.ftype)
        # LlamaModel (GraniteModel dropped head_dim, so rope dims = hidden / heads)
        w.add_vocab_size(hp["vocab_size"])
        w.add_rope_dimension_count(hp["hidden_size"] // hp["num_attention_heads"])
        # GraniteHybridModel: Mamba2 and attention
        w.add_ssm_conv_kernel(hp["conv_kernel"])
        w.add_ssm_state_size(hp["ssm_state_size"])
        w.add_ssm_group_count(self.n_group)
        w.add_ssm_inner_size(self.d_inner)
        w.add_ssm_time_step_rank(hp["mamba_num_heads"])
        n_kv = hp["num_key_value_heads"]
        w.add_head_count_kv([n_kv if i in self.attn_layers else 0 for i in range(n)])
        w.add_rope_scaling_finetuned(False)  # no RoPE in a hybrid with SSM layers
        w.add_context_length(2**20)
        # NemotronHModel
        w.add_key_length(self.head_dim)
        w.add_value_length(self.head_dim)
        if not self.is_moe:
            n_ff = hp["intermediate_size"]
            w.add_feed_forward_length([n_ff if i in self.mlp_layers else 0 for i in range(n)])
            return
        n_ff_exp = hp["moe_intermediate_size"]
        w.add_feed_forward_length([n_ff_exp if i in self.mlp_layers else 0 for i in range(n)])
        w.add_expert_used_count(hp["num_experts_per_tok"])
        w.add_expert_feed_forward_length(n_ff_exp)
        w.add_expert_shared_feed_forward_length(hp["moe_shared_expert_intermediate_size"])
        w.add_expert_count(hp["n_routed_experts"])
        w.add_expert_shared_count(hp["n_shared_experts"])
        w.add_expert_weights_norm(hp["norm_topk_prob"])
        w.add_expert_weights_scale(hp["routed_scaling_factor"])
        w.add_expert_group_count(hp["n_group"])
        if (latent := hp.get("moe_latent_size")) is not None:
            w.add_moe_latent_size(latent)

    def add_vocab(self, w: gguf.GGUFWriter) -> None:
        """NemotronHModel.set_vocab: a gpt2 BPE vocabulary padded to a multiple of 8."""
        with open(self.dir / "tokenizer.json", encoding="utf-8") as f:
            tok = json.load(f)
        if tok["model"]["type"] != "BPE":
            raise SystemExit(f"hf_to_gguf: tokenizer model {tok['model']['type']} is not BPE")
        vocab = dict(tok["model"]["vocab"])
        added = {a["id"]: a for a in tok.get("added_tokens", [])}
        for a in added.values():
            vocab[a["content"]] = a["id"]
        reverse = {i: s for s, i in vocab.items()}
        vocab_size = -(self.hp["vocab_size"] // -8) * 8
        if max(reverse) >= vocab_size:
            raise SystemExit(f"hf_to_gguf: token id {max(reverse)} >= vocab_size {vocab_size}")

        tokens, types = [], []
        for i in range(vocab_size):
            if i not in reverse:
                tokens.append(f"[PAD{i}]")
                types.append(gguf.TokenType.UNUSED)
                continue
            token = reverse[i]
            if i in added:
                if added[i]["special"] or looks_special(token):
                    types.append(gguf.TokenType.CONTROL)
                else:
                    token = token.replace("\u2581", " ")  # pre-normalize user-defined spaces
                    types.append(gguf.TokenType.USER_DEFINED)
            else:
                types.append(gguf.TokenType.NORMAL)
            tokens.append(token)

        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre(self.pre or pre_tokenizer_name(tok))
        w.add_token_list(tokens)
        w.add_token_types(types)
        gguf.SpecialVocab(self.dir, load_merges=True).add_to_gguf(w)

    def write(self, out: Path) -> None:
        writer = gguf.GGUFWriter(path=None, arch=gguf.MODEL_ARCH_NAMES[self.arch])
        self.add_tensors(writer)
        # ModelBase.prepare_metadata
        total, shared, expert, expert_count = writer.get_total_parameter_count()
        metadata = gguf.Metadata.load(None, self.dir, None, total)
        if metadata.name is None:
            metadata.name = self.dir.name
        if metadata.size_label is None and total > 0:
            metadata.size_label = gguf.size_label(total, shared, expert, expert_count)
        writer.add_type(gguf.GGUFType.MODEL)
        metadata.set_gguf_meta_model(writer)
        self.add_parameters(writer)
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        self.add_vocab(writer)
        writer.write_header_to_file(path=out)
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file(progress=False)
        writer.close()


def looks_special(token: str) -> bool:
    """TextModel.does_token_look_special."""
    return (
        token in ("<pad>", "<mask>", "<2mass>", "[@BOS@]")
        or (token.startswith("<|") and token.endswith("|>"))
        or (token.startswith("<｜") and token.endswith("｜>"))
        or (token.startswith("<unused") and token.endswith(">"))
    )


def pre_tokenizer_name(tok: dict) -> str:
    pre = tok.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre])
    for step in steps:
        if step.get("type") == "Split" and (regex := step.get("pattern", {}).get("Regex")):
            if regex in KNOWN_PRE:
                return KNOWN_PRE[regex]
            raise SystemExit(f"hf_to_gguf: unknown pre-tokenizer regex {regex!r}; pass --pre NAME")
    raise SystemExit("hf_to_gguf: tokenizer.json has no Split pre-tokenizer; pass --pre NAME")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir", type=Path,
                    help="HF folder: config.json, tokenizer.json, *.safetensors")
    ap.add_argument("out", type=Path, help="GGUF file to write")
    ap.add_argument("--outtype", choices=["bf16", "f16", "f32"], default="bf16",
                    help="type of the 2-D weights (default bf16)")
    ap.add_argument("--pre", help="tokenizer.ggml.pre to write (default: from the Split regex)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    if not args.verbose:
        # Like the reference, the key chain overwrites a few keys (e.g. head_count_kv, first a
        # number, then the per-layer array); the writer warns about each.
        logging.getLogger("gguf.gguf_writer").setLevel(logging.ERROR)
    if not (args.model_dir / "config.json").is_file():
        print(f"hf_to_gguf: {args.model_dir} has no config.json", file=sys.stderr)
        return 2
    conv = Converter(args.model_dir, args.outtype, args.pre)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    conv.write(tmp)
    tmp.replace(args.out)
    print(f"hf_to_gguf: wrote {args.out} ({gguf.MODEL_ARCH_NAMES[conv.arch]}, "
          f"{conv.n_layer} layers, {args.outtype})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The molecular VAE: a pure ``nn.Module`` over token ids, sized by :class:`VAEConfig`.

The architecture follows the MOSES VAE (Polykovskiy et al., Front. Pharmacol.
2020; ``moses/vae/model.py``):

- one token embedding shared by encoder and decoder;
- encoder: a bidirectional GRU over the embedded sequence; its last layer's
  final states (both directions) give the mean and log-variance of q(z|x);
- decoder: a GRU whose initial hidden state is a linear map of z (the same for
  every layer) and whose input at each step is the previous token's embedding
  concatenated with z; a linear layer gives next-token logits.

Differences from MOSES, all in the config: the embedding is a learned
``embedding_dim`` vector instead of a one-hot-initialised ``vocab_size`` one
(so the vocabulary size does not set the model width), and dropout applies
between stacked GRU layers only.

This file knows nothing about tokenisers, losses or training: the task
(:mod:`molgen.task`) owns those. Token ids 0, 1, 2 are <pad>, <bos>, <eos>
by default, as in :mod:`molgen.tokenizers`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from molgen.errors import MolgenError

# Precision of the sampler's GRU matrix products; the gate arithmetic stays float32.
PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass
class VAEConfig:
    vocab_size: int | None = None  # set from the tokenizer by the task
    embedding_dim: int = 64
    encoder_hidden: int = 256  # per direction
    encoder_layers: int = 1
    bidirectional: bool = True
    decoder_hidden: int = 512
    decoder_layers: int = 3
    latent_dim: int = 128
    dropout: float = 0.0  # between stacked GRU layers
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2

    @classmethod
    def small(cls, **overrides) -> VAEConfig:
        """A CPU-friendly size: one 384-wide decoder layer (about 4x faster to sample)."""
        sizes = dict(embedding_dim=64, encoder_hidden=256, decoder_hidden=384, decoder_layers=1,
                     latent_dim=128)
        return cls(**{**sizes, **overrides})


class VAEOutput(NamedTuple):
    logits: torch.Tensor  # (batch, length - 1, vocab): predictions for tokens[:, 1:]
    mu: torch.Tensor  # (batch, latent)
    logvar: torch.Tensor  # (batch, latent)
    z: torch.Tensor  # (batch, latent)


class VAE(nn.Module):
    """Sequence VAE over token ids; see the module docstring for the architecture."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        c = config
        if c.vocab_size is None:
            raise ValueError("VAEConfig.vocab_size is not set (the task sets it from the "
                             "tokenizer)")
        for name in ("vocab_size", "embedding_dim", "encoder_hidden", "encoder_layers",
                     "decoder_hidden", "decoder_layers", "latent_dim"):
            if getattr(c, name) < 1:
                raise ValueError(f"VAEConfig.{name} must be >= 1, got {getattr(c, name)}")
        if not 0.0 <= c.dropout < 1.0:
            raise ValueError(f"VAEConfig.dropout must be in [0, 1), got {c.dropout}")
        specials = (c.pad_id, c.bos_id, c.eos_id)
        if len(set(specials)) != 3 or not all(0 <= i < c.vocab_size for i in specials):
            raise ValueError(f"pad/bos/eos ids {specials} must be distinct ids below vocab_size")
        self.config = c
        directions = 2 if c.bidirectional else 1

        self.embedding = nn.Embedding(c.vocab_size, c.embedding_dim, padding_idx=c.pad_id)
        self.encoder = nn.GRU(
            c.embedding_dim, c.encoder_hidden, c.encoder_layers, batch_first=True,
            bidirectional=c.bidirectional, dropout=c.dropout if c.encoder_layers > 1 else 0.0)
        self.to_mu = nn.Linear(directions * c.encoder_hidden, c.latent_dim)
        self.to_logvar = nn.Linear(directions * c.encoder_hidden, c.latent_dim)
        self.latent_to_hidden = nn.Linear(c.latent_dim, c.decoder_hidden)
        self.decoder = nn.GRU(
            c.embedding_dim + c.latent_dim, c.decoder_hidden, c.decoder_layers, batch_first=True,
            dropout=c.dropout if c.decoder_layers > 1 else 0.0)
        self.output = nn.Linear(c.decoder_hidden, c.vocab_size)

    def reset_parameters(self) -> None:
        for module in (self.embedding, self.encoder, self.to_mu, self.to_logvar,
                       self.latent_to_hidden, self.decoder, self.output):
            module.reset_parameters()

    def extra_repr(self) -> str:
        c = self.config
        return (f"vocab={c.vocab_size}, latent={c.latent_dim}, encoder={c.encoder_layers}x"
                f"{c.encoder_hidden}{' bi' if c.bidirectional else ''}, "
                f"decoder={c.decoder_layers}x{c.decoder_hidden}")

    # -- encoder ---------------------------------------------------------------

    def encode(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | tokens); ``tokens`` (batch, length), <pad>-padded."""
        lengths = (tokens != self.config.pad_id).sum(dim=1)
        if (lengths == 0).any():
            raise ValueError("every sequence needs at least one token that is not <pad>")
        packed = pack_padded_sequence(self.embedding(tokens), lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        _, h = self.encoder(packed)  # (layers * directions, batch, encoder_hidden)
        directions = 2 if self.config.bidirectional else 1
        last = h[-directions:].transpose(0, 1).reshape(tokens.shape[0], -1)  # (batch, dirs * hid)
        return self.to_mu(last), self.to_logvar(last)

    @staticmethod
    def reparameterise(mu: torch.Tensor, logvar: torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    # -- decoder ---------------------------------------------------------------

    def initial_hidden(self, z: torch.Tensor) -> torch.Tensor:
        """(decoder_layers, batch, decoder_hidden): every layer starts from the same map of z."""
        h0 = self.latent_to_hidden(z)
        return h0.unsqueeze(0).expand(self.config.decoder_layers, -1, -1).contiguous()

    def decode(self, z: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Teacher-forced next-token logits (batch, length, vocab) of ``inputs`` (batch, length)."""
        embedded = self.embedding(inputs)  # (batch, length, embedding)
        z_steps = z.unsqueeze(1).expand(-1, inputs.shape[1], -1)  # (batch, length, latent)
        out, _ = self.decoder(torch.cat([embedded, z_steps], dim=-1), self.initial_hidden(z))
        return self.output(out)

    def forward(self, tokens: torch.Tensor, *, sample_latent: bool = True) -> VAEOutput:
        """Encode ``tokens`` (batch, length) framed by <bos>/<eos>, decode with teacher forcing.

        ``sample_latent=False`` decodes from the posterior mean (evaluation).
        """
        mu, logvar = self.encode(tokens)
        z = self.reparameterise(mu, logvar) if sample_latent else mu
        return VAEOutput(self.decode(z, tokens[:, :-1]), mu, logvar, z)

    @torch.inference_mode()
    def sample(self, z: torch.Tensor, *, max_length: int = 100, temperature: float = 1.0,
               banned_ids: Sequence[int] = (), start_ids: Sequence[int] | None = None,
               generator: torch.Generator | None = None,
               precision: str = "float32", grammar: Grammar | None = None,
               fused: bool = False) -> torch.Tensor:
        """Decode every row of ``z`` (batch, latent) at once; token ids (batch, max_length + 1).

        Each row holds its tokens, then <eos>, then <pad>. Tokens are drawn from
        softmax(logits / temperature) by the Gumbel-max trick, or taken by
        argmax when ``temperature == 0``. <pad>, <bos> and ``banned_ids`` (e.g.
        <unk>) are never drawn; the first token is one of ``start_ids`` (all
        but <eos> when None); a row that reaches ``max_length`` tokens is
        closed with <eos>. Rows are dropped
        from the batch as they finish, so a step costs what the open rows cost.
        ``precision`` is that of the GRU's matrix products (see :class:`_GRUStepper`):
        "bfloat16" makes them ~2x faster on CPUs with native bf16 (sampling ~1.4x) and draws
        slightly different molecules from the same seed. ``grammar`` (e.g.
        :class:`molgen.grammar.SmilesSyntax`) masks, before each draw but the forced
        last <eos>, the tokens it rules out for each row. ``fused`` runs each GRU step's
        element-wise work as one loop compiled by ``torch.compile`` (see
        :func:`_compiled_updates`): on a CPU, sampling ~17% faster with bf16 products,
        ~7% in float32, after a first call that compiles for seconds; the same
        equations, so the same molecules up to float rounding (the compiled tanh is
        not torch's).
        """
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
        c = self.config
        batch, device = z.shape[0], z.device
        out = torch.full((batch, max_length + 1), c.pad_id, dtype=torch.long, device=device)
        if batch == 0:
            return out
        blocked = torch.zeros(c.vocab_size, device=device, dtype=z.dtype)
        blocked[[c.pad_id, c.bos_id, *banned_ids]] = float("-inf")
        first = blocked.clone()
        if start_ids is None:
            first[c.eos_id] = float("-inf")
        else:
            first.fill_(float("-inf"))
            first[list(start_ids)] = blocked[list(start_ids)]
        only_eos = torch.full_like(blocked, float("-inf"))
        only_eos[c.eos_id] = 0.0

        rows = torch.arange(batch, device=device)  # which output rows are still open
        stepper = _GRUStepper(self, z, PRECISIONS[precision], fused)
        h = list(self.initial_hidden(z))  # a (open, hidden) state per layer
        state = grammar.start(batch, max_length, device) if grammar is not None else None
        token = torch.full((batch,), c.bos_id, dtype=torch.long, device=device)
        for step in range(max_length + 1):
            o, h = stepper(token, h)
            logits = self.output(o)  # (open, vocab)
            mask = first if step == 0 else only_eos if step == max_length else blocked
            logits = logits + mask
            if state is not None and step < max_length:
                logits = logits + state.mask()
            token = draw_tokens(logits, temperature, generator)
            out[rows, step] = token
            if state is not None:
                state.advance(token)
            open_ = token != c.eos_id
            if not open_.all():
                if not open_.any():
                    break
                rows, token = rows[open_], token[open_]
                h = [layer[open_] for layer in h]
                stepper.keep(open_)
                if state is not None:
                    state.keep(open_)
        return out


class GrammarState(Protocol):
    """Per-row decoding state of a :class:`Grammar`."""

    def mask(self) -> torch.Tensor: ...  # (rows, vocab): 0 where allowed, -inf where not

    def advance(self, token: torch.Tensor) -> None: ...  # the tokens (rows,) just drawn

    def keep(self, open_: torch.Tensor) -> None: ...  # drop the rows where open_ is False


class Grammar(Protocol):
    """What :meth:`VAE.sample` needs of a grammar: a state for a batch."""

    def start(self, rows: int, max_length: int, device: torch.device) -> GrammarState: ...


class _GRUStepper:
    """One decoder step of :meth:`VAE.sample`: ``nn.GRU``'s equations, with the first
    layer's input projection read from tables instead of multiplied each step.

    The first layer's input is [embedding(token), z]: the token part takes
    ``vocab_size`` values and the z part is fixed per row, so both products
    with ``weight_ih_l0`` are computed once (a (vocab, 3H) table and a
    (rows, 3H) matrix). That removes a third of the multiply-adds of a step
    of the default model: prior sampling went from 695 to 562 us a molecule
    on one CPU thread. Inference only: no dropout between layers.

    With ``dtype=torch.bfloat16`` the per-step products (hidden-to-hidden, and
    input-to-hidden above the first layer) multiply bf16 copies of the states
    and weights, accumulate in float32 and round their result to bf16; the
    gates, states and tables stay float32. On a CPU with AVX512-BF16 that
    product runs 2.3x faster (500x384 by 384x1152: 4.7 -> 2.0 ms).
    """

    def __init__(self, vae: VAE, z: torch.Tensor, dtype: torch.dtype = torch.float32,
                 fused: bool = False):
        gru, emb = vae.decoder, vae.embedding.weight
        self.fused = _compiled_updates() if fused else None
        w_ih = gru.weight_ih_l0  # (3H, embedding + latent), gates ordered r, z, n
        self.dtype = dtype
        self.token_gates = emb @ w_ih[:, :emb.shape[1]].T  # (vocab, 3H)
        self.row_gates = torch.addmm(gru.bias_ih_l0, z, w_ih[:, emb.shape[1]:].T)  # (rows, 3H)
        self.layers = [(getattr(gru, f"weight_ih_l{k}").T.to(dtype), getattr(gru, f"bias_ih_l{k}"),
                        getattr(gru, f"weight_hh_l{k}").T.to(dtype), getattr(gru, f"bias_hh_l{k}"))
                       for k in range(gru.num_layers)]

    def keep(self, open_: torch.Tensor) -> None:
        self.row_gates = self.row_gates[open_]

    def _product(self, bias: torch.Tensor, x: torch.Tensor, w_t: torch.Tensor) -> torch.Tensor:
        if self.dtype == torch.float32:
            return torch.addmm(bias, x, w_t)
        return torch.mm(x.to(self.dtype), w_t).float().add_(bias)

    def __call__(self, token: torch.Tensor, h: list[torch.Tensor]
                 ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Next hidden states of ``h`` (one (rows, H) tensor a layer) after ``token``
        (rows,): the last layer's output (rows, H) and the new states."""
        x, new = None, []
        for k, (w_ih_t, b_ih, w_hh_t, b_hh) in enumerate(self.layers):
            if self.fused is not None:
                first, upper = self.fused
                gh = torch.mm(h[k].to(self.dtype), w_hh_t)
                try:
                    x = (first(self.token_gates, token, self.row_gates, h[k], gh, b_hh)
                         if k == 0 else
                         upper(torch.mm(x.to(self.dtype), w_ih_t), b_ih, h[k], gh, b_hh))
                except _inductor_error() as err:
                    reason = str(err).strip().splitlines()[0]
                    raise MolgenError(f"compiling the fused sampling step failed ({reason}); "
                                      "sample without it (no --fused)") from err
            else:
                gi = (self.token_gates[token].add_(self.row_gates) if k == 0
                      else self._product(b_ih, x, w_ih_t))
                x = _gru_cell(gi, h[k], self._product(b_hh, h[k], w_hh_t))
            new.append(x)
        return x, new


# The fused step: the same equations written plainly for torch.compile, which turns
# each layer's element-wise work (the token-table gather, the biases, both gates,
# the candidate and the mix) into one C++ loop over the rows instead of a dozen
# passes over (rows, 3H) tensors. Prior sampling of the 20-minute MOSES model
# (one 384-wide layer, bf16 products, 500 rows a batch, one CPU thread): 187 -> 155 us
# a molecule. The first call compiles (seconds; a C++ compiler on CPU); dynamic
# shapes let the batch shrink as rows finish without compiling again.


def _gru_update(gi: torch.Tensor, h: torch.Tensor, gh: torch.Tensor) -> torch.Tensor:
    # _gru_cell's equations without its in-place tricks: compiled, _gru_cell itself
    # sampled slower than the eager step (224 against 185 us a molecule, bf16).
    size = h.shape[1]
    gates = torch.sigmoid(gi[:, :2 * size] + gh[:, :2 * size])  # reset | update
    reset, update = gates[:, :size], gates[:, size:]
    candidate = torch.tanh(gi[:, 2 * size:] + reset * gh[:, 2 * size:])
    return torch.lerp(candidate, h, update)


def _first_layer_update(token_gates: torch.Tensor, token: torch.Tensor,
                        row_gates: torch.Tensor, h: torch.Tensor, gh: torch.Tensor,
                        b_hh: torch.Tensor) -> torch.Tensor:
    return _gru_update(token_gates[token] + row_gates, h, gh.float() + b_hh)


def _upper_layer_update(gi: torch.Tensor, b_ih: torch.Tensor, h: torch.Tensor,
                        gh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
    return _gru_update(gi.float() + b_ih, h, gh.float() + b_hh)


def _inductor_error() -> type[Exception]:
    # Imported when first needed: torch._inductor adds most of a second to every import.
    from torch._inductor.exc import InductorError
    return InductorError


@functools.cache
def _compiled_updates() -> tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]]:
    return (torch.compile(_first_layer_update, dynamic=True),
            torch.compile(_upper_layer_update, dynamic=True))


def _gru_cell(gi: torch.Tensor, h: torch.Tensor, gh: torch.Tensor) -> torch.Tensor:
    """PyTorch's GRU update of ``h`` (rows, H) given the input and hidden projections
    ``gi`` and ``gh`` (rows, 3H), biases included. Overwrites ``gi``.

    Written as few passes over memory as the equations allow (in place, both
    gates in one sigmoid, lerp for the mix): at the sampler's batch sizes the
    element-wise work costs as much as the matrix products.
    """
    size = h.shape[1]
    gates = gi[:, :2 * size].add_(gh[:, :2 * size]).sigmoid_()  # reset | update
    reset, update = gates[:, :size], gates[:, size:]
    # tanh(x) = 2 sigmoid(2x) - 1: this torch's CPU tanh is 6x slower than its sigmoid.
    candidate = torch.addcmul(gi[:, 2 * size:], reset, gh[:, 2 * size:])
    candidate = candidate.mul_(2).sigmoid_().mul_(2).sub_(1)
    return torch.lerp(candidate, h, update)  # (1 - update) * candidate + update * h


def draw_tokens(logits: torch.Tensor, temperature: float,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """One id per row of ``logits`` (batch, vocab) from softmax(logits / temperature).

    The Gumbel-max trick: argmax(logits / T + Gumbel noise) is distributed as
    softmax(logits / T), one ``rand`` and one ``argmax`` for the whole batch.
    ``temperature == 0`` is the argmax itself.
    """
    if temperature == 0:
        return logits.argmax(dim=-1)
    u = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
    # Gumbel(0, 1) noise; the clamps keep both logs finite at u = 0 or 1.
    gumbel = -torch.log(torch.clamp(-torch.log(torch.clamp(u, min=1e-20)), min=1e-20))
    return (logits / temperature + gumbel).argmax(dim=-1)

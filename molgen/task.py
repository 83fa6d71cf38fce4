"""Training the molecular VAE: loss, KL annealing, teacher forcing, metrics, data loaders.

:class:`MolVAETask` is the ``LightningModule`` that :func:`training.fit` (the
project's one engine) trains. It holds the model (:class:`molgen.vae.VAE`)
and the tokenizer, and saves both as plain hyperparameters, the task config
as a dict and the vocabulary as a list, so ``MolVAETask.load_from_checkpoint``
rebuilds a ready-to-sample model from the checkpoint alone::

    tokenizer = fit_tokenizer("smiles", smiles)
    task = MolVAETask(MolVAETaskConfig(), tokenizer)
    train, val = token_loaders(tokenizer, smiles, max_length=task.config.max_length)
    result = training.fit(task, train, TrainConfig(max_epochs=10), val=val)
    task = MolVAETask.load_from_checkpoint(result.last_checkpoint)

The loss is the MOSES VAE's: token cross-entropy averaged over the real
(non-<pad>) target tokens, plus ``kl_weight`` times the KL divergence to
N(0, I) summed over latent dimensions and averaged over the batch; the
weight warms up linearly from ``kl_start`` to ``kl_max`` (MOSES: 0 -> 0.05;
our default 0.01, see :class:`MolVAETaskConfig`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Timer
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, Sampler

from molgen import chem
from molgen.errors import InvalidMolecule
from molgen.grammar import SmilesSyntax
from molgen.latent_prior import CHECKPOINT_KEY, LatentMixture
from molgen.tokenizers import (
    BOS,
    EOS,
    PAD,
    SPECIAL_TOKENS,
    UNK,
    SmilesTokenizer,
    Tokenizer,
    tokenizer_from_dict,
)
from molgen.vae import VAE, VAEConfig, VAEOutput
from training.config import config_from, config_to_dict

log = logging.getLogger(__name__)

PRIORS = ("auto", "mixture", "normal")


@dataclass
class MolVAETaskConfig:
    model: VAEConfig = field(default_factory=VAEConfig)
    lr: float = 3e-4  # Adam, as MOSES
    kl_start: float = 0.0  # KL weight before and at the start of the warm-up
    # KL weight after the warm-up. MOSES uses 0.05; with the recon term a mean
    # over tokens that is a beta of ~1.5 per molecule, and a 15-minute CPU run
    # on 50k MOSES molecules collapsed to KL 0.5 nats (0% reconstruction, no
    # usable analogues). 0.01 kept KL ~27 nats, 12% exact reconstruction and
    # analogues at Tanimoto 0.5-0.64, with validity still 1.0.
    kl_max: float = 0.01
    kl_warmup_begin: int = 0  # optimiser step at which the warm-up begins
    kl_warmup_steps: int = 10_000  # steps from kl_start to kl_max (0: kl_max at once)
    # Optimiser steps over which the learning rate falls from lr to lr_final * lr along a
    # cosine, then stays there (0: constant lr). 0 here because only the caller knows how
    # many steps a run makes (40 CPU-minutes on MOSES, SMILES: FCD/Test 1.12 from 2e-3
    # decaying over the run against 1.26 at a constant 1e-3, README).
    lr_decay_steps: int = 0
    lr_final: float = 0.05
    # The schedule on the run's progress instead of on step counts (`mol train` and
    # benchmarks/molgen_moses.py use it). When budget_steps or budget_seconds is > 0, the
    # run's progress is the larger of the shares of them spent (optimiser steps; seconds
    # of training on the trainer's clock, which a resumed run carries over); the KL weight
    # warms up over the first kl_warmup_share of it and the learning rate decays over the
    # first lr_decay_share (0: constant), and kl_warmup_begin, kl_warmup_steps and
    # lr_decay_steps are not used. Steps computed from a step time measured before
    # training took in whatever load the machine had at that moment: a 60-minute run
    # timed under load finished its decay after a third of its steps (README).
    budget_steps: int = 0
    budget_seconds: float = 0.0
    kl_warmup_share: float = 0.5
    lr_decay_share: float = 1.0
    max_length: int = 100  # tokens, <bos>/<eos> excluded: longer molecules are not used
    # SMILES models: mask the tokens that would break SMILES syntax or an atom's valence as
    # the decoder draws them (molgen.grammar); a decoding setting, for any model. Off by
    # default: on MOSES it buys validity at some FCD/Test (Kekule model, 30,000 samples from
    # the mixture: Valid 0.930 -> 0.958, FCD/Test 1.003 -> 1.065; README).
    smiles_syntax: bool = False
    val_samples: int = 0  # prior samples drawn after each validation to log validity, uniqueness
    sample_temperature: float = 1.0  # for those samples

    def __post_init__(self) -> None:
        if isinstance(self.model, Mapping):  # from a checkpoint or a JSON config
            self.model = config_from(VAEConfig, self.model)
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.kl_start < 0 or self.kl_max < 0:
            raise ValueError(f"KL weights must be >= 0, got {self.kl_start} -> {self.kl_max}")
        if self.lr_decay_steps < 0 or not 0 <= self.lr_final <= 1:
            raise ValueError(f"need lr_decay_steps >= 0 and 0 <= lr_final <= 1, got "
                             f"{self.lr_decay_steps}, {self.lr_final}")
        if self.kl_warmup_steps < 0 or self.kl_warmup_begin < 0:
            raise ValueError("kl_warmup_steps and kl_warmup_begin must be >= 0")
        if self.budget_steps < 0 or self.budget_seconds < 0:
            raise ValueError(f"budget_steps and budget_seconds must be >= 0, got "
                             f"{self.budget_steps}, {self.budget_seconds}")
        if not (0 <= self.kl_warmup_share <= 1 and 0 <= self.lr_decay_share <= 1):
            raise ValueError(f"kl_warmup_share and lr_decay_share must be in [0, 1], got "
                             f"{self.kl_warmup_share}, {self.lr_decay_share}")
        if self.max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {self.max_length}")
        if self.val_samples < 0:
            raise ValueError(f"val_samples must be >= 0, got {self.val_samples}")


def run_progress(step: int, seconds: float, config: MolVAETaskConfig) -> float | None:
    """Share of the run done after ``step`` optimiser steps and ``seconds`` of training, the
    larger of the shares of ``budget_steps`` and ``budget_seconds`` (whichever ends the run
    first), at most 1; None when the config sets no budget (the schedule is in steps)."""
    shares = []
    if config.budget_steps > 0:
        shares.append(step / config.budget_steps)
    if config.budget_seconds > 0:
        shares.append(seconds / config.budget_seconds)
    return min(1.0, max(shares)) if shares else None


def _ramp(position: float, length: float) -> float:
    """0 up to position 0, 1 from ``length`` on, linear between; 1 when ``length`` is 0."""
    if length == 0:
        return 1.0
    return min(max(position / length, 0.0), 1.0)


def kl_weight(step: int, config: MolVAETaskConfig, seconds: float = 0.0) -> float:
    """The KL weight at optimiser step ``step``, ``seconds`` into training: linear from
    kl_start to kl_max, over steps or over the run's progress (:func:`run_progress`)."""
    progress = run_progress(step, seconds, config)
    ramp = (_ramp(step - config.kl_warmup_begin, config.kl_warmup_steps) if progress is None
            else _ramp(progress, config.kl_warmup_share))
    return config.kl_start + (config.kl_max - config.kl_start) * ramp


def lr_factor(step: int, config: MolVAETaskConfig, seconds: float = 0.0) -> float:
    """The learning rate at optimiser step ``step``, ``seconds`` into training, as a
    fraction of ``config.lr``: a cosine from 1 to lr_final, then lr_final."""
    progress = run_progress(step, seconds, config)
    position, length = ((step, config.lr_decay_steps) if progress is None
                        else (progress, config.lr_decay_share))
    if length == 0:
        return 1.0
    ramp = _ramp(position, length)
    return config.lr_final + (1 - config.lr_final) * 0.5 * (1 + math.cos(math.pi * ramp))


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per molecule, summed over latent dims: (batch,)."""
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar).sum(dim=-1)


class MolVAETask(L.LightningModule):
    """The VAE, its tokenizer and its training objective."""

    def __init__(self, config: MolVAETaskConfig | Mapping[str, Any] | None = None,
                 tokenizer: Tokenizer | Mapping[str, Any] | None = None):
        super().__init__()
        if tokenizer is None:
            raise ValueError("MolVAETask needs a tokenizer (fit one on the training SMILES)")
        self.tokenizer = (tokenizer if isinstance(tokenizer, Tokenizer)
                          else tokenizer_from_dict(tokenizer))
        config = config_from(MolVAETaskConfig, config)
        vocab_size = config.model.vocab_size
        if vocab_size is not None and vocab_size != len(self.tokenizer):
            raise ValueError(f"VAEConfig.vocab_size={vocab_size} but the tokenizer has "
                             f"{len(self.tokenizer)} tokens")
        model_config = dataclasses.replace(config.model, vocab_size=len(self.tokenizer),
                                           pad_id=PAD, bos_id=BOS, eos_id=EOS)
        self.config = dataclasses.replace(config, model=model_config)
        self.save_hyperparameters({"config": config_to_dict(self.config),
                                   "tokenizer": self.tokenizer.to_dict()})
        self.model = VAE(model_config)
        # Fitted after training (molgen.latent_prior), carried by the checkpoint.
        self.latent_mixture: LatentMixture | None = None
        self.grammar: SmilesSyntax | None = None
        self.fused_sampling = False  # see use_fused_sampling
        self.use_smiles_syntax(self.config.smiles_syntax)
        self._train_started: float | None = None  # time.monotonic() at this fit's start

    # -- the objective ---------------------------------------------------------

    def kl_weight(self) -> float:
        return kl_weight(self.global_step, self.config, self.training_seconds())

    def training_seconds(self) -> float:
        """Seconds this model has trained: the trainer's clock (its ``Timer``, which
        ``max_time`` adds and a resumed run restores), or this fit's own without one;
        0 outside a fit."""
        trainer = self._trainer
        if trainer is None:
            return 0.0
        for callback in trainer.callbacks:
            if isinstance(callback, Timer):
                return callback.time_elapsed("train")
        return 0.0 if self._train_started is None else time.monotonic() - self._train_started

    def on_train_start(self) -> None:
        self._train_started = time.monotonic()

    def _lr_factor(self, step: int) -> float:
        return lr_factor(step, self.config, self.training_seconds())

    def losses(self, tokens: torch.Tensor, *, sample_latent: bool = True
               ) -> tuple[dict[str, torch.Tensor], VAEOutput]:
        """Loss terms for a batch of <pad>-padded token ids (batch, length)."""
        out = self.model(tokens, sample_latent=sample_latent)
        targets = tokens[:, 1:]  # teacher forcing: position t predicts token t + 1
        recon = nn.functional.cross_entropy(out.logits.transpose(1, 2), targets, ignore_index=PAD)
        kl = kl_divergence(out.mu, out.logvar).mean()
        weight = self.kl_weight()
        return {"loss": recon + weight * kl, "recon": recon, "kl": kl}, out

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        terms, _ = self.losses(batch)
        n = batch.shape[0]
        self.log("train_loss", terms["loss"], prog_bar=True, batch_size=n)
        self.log("train_recon", terms["recon"], batch_size=n)
        self.log("train_kl", terms["kl"], batch_size=n)
        self.log("kl_weight", self.kl_weight(), batch_size=n)
        return terms["loss"]

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        terms, out = self.losses(batch, sample_latent=False)
        targets = batch[:, 1:]
        real = targets != PAD
        correct = (out.logits.argmax(dim=-1) == targets) | ~real
        # Negative ELBO in nats per molecule (recon summed over tokens, KL at weight 1):
        # comparable across epochs, unlike the loss, whose KL weight moves.
        recon_sum = nn.functional.cross_entropy(out.logits.transpose(1, 2), targets,
                                                ignore_index=PAD, reduction="sum")
        n = batch.shape[0]
        kl = kl_divergence(out.mu, out.logvar).sum()
        self.log("val_loss", terms["loss"], prog_bar=True, batch_size=n, sync_dist=True)
        self.log("val_recon", terms["recon"], batch_size=n, sync_dist=True)
        self.log("val_kl", terms["kl"], batch_size=n, sync_dist=True)
        self.log("val_nelbo", (recon_sum + kl) / n, batch_size=n, sync_dist=True)
        self.log("val_token_acc", correct[real].float().mean(), batch_size=n, sync_dist=True)
        self.log("val_seq_acc", correct.all(dim=1).float().mean(), batch_size=n, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        if self.config.val_samples == 0 or self.trainer.sanity_checking:
            return
        smiles = self.sample(self.config.val_samples, temperature=self.config.sample_temperature)
        canonical = [s for s in canonical_or_none(smiles) if s is not None]
        self.log("val_validity", len(canonical) / len(smiles), sync_dist=True)
        self.log("val_unique", len(set(canonical)) / max(len(canonical), 1), sync_dist=True)

    def configure_optimizers(self):
        optimiser = torch.optim.Adam(self.model.parameters(), lr=self.config.lr)
        config = self.config
        in_steps = run_progress(0, 0.0, config) is None
        if (config.lr_decay_steps if in_steps else config.lr_decay_share) == 0:
            return optimiser
        schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, self._lr_factor)
        return {"optimizer": optimiser, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_fit_start(self) -> None:
        # A mixture fitted to the codes of other weights (a resumed run) would no longer
        # match them; the caller fits a new one after training.
        self.latent_mixture = None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.latent_mixture is not None:
            checkpoint[CHECKPOINT_KEY] = self.latent_mixture.to_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get(CHECKPOINT_KEY)
        self.latent_mixture = None if state is None else LatentMixture.from_dict(state)
        if state is not None and self.latent_mixture.latent_dim != self.config.model.latent_dim:
            raise ValueError(f"the checkpoint's latent mixture is {self.latent_mixture.latent_dim}"
                             f"-dimensional, its model's latent {self.config.model.latent_dim}")

    # -- using the model -------------------------------------------------------

    def use_smiles_syntax(self, on: bool, *, complete: bool = False) -> None:
        """Decode under the SMILES syntax mask (:mod:`molgen.grammar`), valences counted as
        RDKit counts them, or not. With ``complete`` also drop what a row leaves open at
        <eos> (:meth:`molgen.grammar.SmilesSyntax.complete`): every row of a Kekulé model
        is then a molecule, but those rows are poor ones (MOSES: 4% of rows, FCD/Test
        16.7 on their own, README), so it is off unless asked for. A SELFIES model has
        no syntax to break: it never uses one."""
        self.complete_open_rows = complete
        if not (on and isinstance(self.tokenizer, SmilesTokenizer)):
            self.grammar = None
            return
        vocabulary = self.tokenizer.vocabulary
        self.grammar = SmilesSyntax(vocabulary, [
            chem.bond_capacity(token) if i >= len(SPECIAL_TOKENS)
            and self.tokenizer.is_atom_token(token) else 0 for i, token in enumerate(vocabulary)])

    def use_fused_sampling(self, on: bool) -> None:
        """Decode with the GRU step compiled by ``torch.compile`` (``fused`` in
        :meth:`molgen.vae.VAE.sample`), or not: faster for large samples on a CPU,
        after a first decode that compiles for seconds. Off by default."""
        self.fused_sampling = on

    def encode_smiles(self, smiles: Sequence[str], *, batch_size: int = 1024
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance (n, latent) of each SMILES.

        Tokens outside the vocabulary are read as <unk> (a warning is logged);
        a molecule the tokenizer cannot read raises :class:`TokenizationError`.
        """
        if not smiles:
            raise ValueError("no molecules to encode")
        ids = [self.tokenizer.encode(s) for s in smiles]
        unknown = [s for s, row in zip(smiles, ids, strict=True) if UNK in row]
        if unknown:
            log.warning("%d molecule(s) hold tokens outside the vocabulary, read as <unk>: %s",
                        len(unknown), ", ".join(unknown[:3]))
        was_training = self.model.training
        self.model.eval()
        mus, logvars = [], []
        try:
            with torch.inference_mode():
                for start in range(0, len(ids), batch_size):
                    tokens = collate_tokens([torch.tensor(row) for row in
                                             ids[start:start + batch_size]]).to(self.device)
                    mu, logvar = self.model.encode(tokens)
                    mus.append(mu)
                    logvars.append(logvar)
        finally:
            self.model.train(was_training)
        # Plain tensors (not inference tensors), so callers may use them in autograd.
        return torch.cat(mus).clone(), torch.cat(logvars).clone()

    def decode_latent_ids(self, z: torch.Tensor, *, temperature: float = 0.0,
                          max_length: int | None = None,
                          generator: torch.Generator | None = None,
                          precision: str = "float32") -> torch.Tensor:
        """Token ids (n, max_length + 1) each row of ``z`` decodes to, <eos>/<pad>-terminated;
        ``precision`` as in :meth:`molgen.vae.VAE.sample`."""
        was_training = self.model.training
        self.model.eval()
        try:
            ids = self.model.sample(z.to(self.device), temperature=temperature,
                                    max_length=max_length or self.config.max_length,
                                    banned_ids=(UNK,), start_ids=self.tokenizer.start_ids,
                                    generator=generator, precision=precision,
                                    grammar=self.grammar, fused=self.fused_sampling)
        finally:
            self.model.train(was_training)
        if self.grammar is not None and self.complete_open_rows:
            ids = self.grammar.complete(ids)
        return ids

    def decode_latent(self, z: torch.Tensor, *, temperature: float = 0.0,
                      max_length: int | None = None,
                      generator: torch.Generator | None = None) -> list[str]:
        """The SMILES each row of ``z`` decodes to (as the tokens spell it, not canonical)."""
        return self.tokenizer.decode_batch(self.decode_latent_ids(
            z, temperature=temperature, max_length=max_length, generator=generator))

    def draw_latents(self, n: int, *, generator: torch.Generator | None = None,
                     prior: str = "auto") -> torch.Tensor:
        """``n`` latent codes from the prior: ``"mixture"``, the latent mixture fitted after
        training (:mod:`molgen.latent_prior`), ``"normal"``, N(0, I), or ``"auto"``, the
        mixture when the task has one."""
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
        if prior == "mixture" and self.latent_mixture is None:
            raise ValueError("this model has no fitted latent mixture (`medgen mol train` fits "
                             "one); sample from the normal prior instead")
        device = generator.device if generator is not None else self.device
        if prior != "normal" and self.latent_mixture is not None:
            return self.latent_mixture.sample(n, generator=generator, device=device)
        return torch.randn(n, self.config.model.latent_dim, generator=generator, device=device)

    def sample_ids(self, n: int, *, temperature: float = 1.0, max_length: int | None = None,
                   generator: torch.Generator | None = None,
                   precision: str = "float32", prior: str = "auto") -> torch.Tensor:
        """Token ids of ``n`` molecules from the prior (:meth:`draw_latents`), decoded in
        one batch."""
        z = self.draw_latents(n, generator=generator, prior=prior)
        return self.decode_latent_ids(z, temperature=temperature, max_length=max_length,
                                      generator=generator, precision=precision)

    def sample(self, n: int, *, temperature: float = 1.0, max_length: int | None = None,
               generator: torch.Generator | None = None, precision: str = "float32",
               prior: str = "auto") -> list[str]:
        """``n`` molecules from the prior (:meth:`draw_latents`), decoded in one batch (raw,
        not canonical)."""
        return self.tokenizer.decode_batch(self.sample_ids(
            n, temperature=temperature, max_length=max_length, generator=generator,
            precision=precision, prior=prior))

    def latent_diagnostics(self, smiles: Sequence[str], *, batch_size: int = 1024,
                           active_threshold: float = 0.01) -> dict[str, float]:
        """How much the latent code carries, on held-out ``smiles``: the posterior-collapse check.

        - ``kl_nats``: mean KL(q(z|x) || N(0, I)) per molecule, the information
          the code holds (0 when the posterior has collapsed onto the prior);
        - ``active_units``: latent dimensions whose posterior mean varies across
          molecules, Cov_x(E_q[z_d]) > ``active_threshold`` (Burda et al., 2016);
        - ``reconstruction``: share of molecules that greedy decoding of their
          posterior mean gives back exactly (canonical SMILES compared);
        - ``token_accuracy``: teacher-forced next-token accuracy from the mean.
        """
        canonical = [c for c in canonical_or_none(list(smiles)) if c is not None]
        if len(canonical) < 2:
            raise ValueError("need at least two valid molecules for latent diagnostics")
        mu, logvar = self.encode_smiles(canonical, batch_size=batch_size)  # (n, latent)
        kl = kl_divergence(mu, logvar)  # (n,)
        active = int((mu.var(dim=0) > active_threshold).sum())
        decoded = canonical_or_none(self.decode_latent(mu, temperature=0.0))
        exact = sum(d == c for d, c in zip(decoded, canonical, strict=True))
        correct = total = 0
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                ids = [torch.tensor(self.tokenizer.encode(c)) for c in canonical]
                for start in range(0, len(ids), batch_size):
                    tokens = collate_tokens(ids[start:start + batch_size]).to(self.device)
                    out = self.model(tokens, sample_latent=False)
                    targets = tokens[:, 1:]
                    real = targets != PAD
                    correct += int(((out.logits.argmax(dim=-1) == targets) & real).sum())
                    total += int(real.sum())
        finally:
            self.model.train(was_training)
        return {"molecules": len(canonical), "kl_nats": float(kl.mean()),
                "active_units": active, "latent_dim": int(mu.shape[1]),
                "reconstruction": exact / len(canonical), "token_accuracy": correct / total}


def canonical_or_none(smiles: Sequence[str]) -> list[str | None]:
    """Canonical SMILES of each string, None where :mod:`molgen.chem` finds it invalid."""
    result: list[str | None] = []
    for text in smiles:
        try:
            result.append(chem.canonical_smiles(text))
        except InvalidMolecule:
            result.append(None)
    return result


# --------------------------------------------------------------------------
# Data


class TokenDataset(Dataset):
    """Token id sequences (each framed by <bos>/<eos>) as tensors."""

    def __init__(self, ids: Sequence[Sequence[int]]):
        self.ids = [torch.tensor(row, dtype=torch.long) for row in ids]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.ids[index]


def collate_tokens(batch: Sequence[torch.Tensor]) -> torch.Tensor:
    """Pad a list of id sequences into (batch, longest) with <pad>."""
    return pad_sequence(list(batch), batch_first=True, padding_value=PAD)


class LengthBucketSampler(Sampler[list[int]]):
    """Shuffled batches of sequences of similar length: less padding to compute on.

    Each epoch shuffles the indices, cuts them into pools of ``pool_batches``
    batches, sorts each pool by length, cuts it into batches and shuffles the
    batches, so batches stay random in content and order while the decoder
    (which runs over every padded position) wastes little on <pad>. On MOSES
    SELFIES at batch 64 a pool of 50 batches cuts the padded tokens by 20%
    (``benchmarks/molgen_train_step.py``).
    ``pool_batches=1`` gives plain shuffled batches: use it for a corpus of a few
    molecules repeated, where equal lengths would fill each batch with copies.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, pool_batches: int = 50,
                 drop_last: bool = False, generator: torch.Generator | None = None):
        if batch_size < 1 or pool_batches < 1:
            raise ValueError(f"batch_size and pool_batches must be >= 1, got {batch_size}, "
                             f"{pool_batches}")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.pool = batch_size * pool_batches
        self.drop_last = drop_last
        self.generator = generator

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        order = torch.randperm(len(self.lengths), generator=self.generator).tolist()
        batches = []
        for start in range(0, len(order), self.pool):
            pool = sorted(order[start:start + self.pool], key=self.lengths.__getitem__)
            batches += [pool[i:i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        if self.drop_last:  # pools hold whole batches: only the last pool can leave a short one
            batches = [b for b in batches if len(b) == self.batch_size]
        for i in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[i]


def token_loader(tokenizer: Tokenizer, smiles: Sequence[str], *, max_length: int = 100,
                 batch_size: int = 512, shuffle: bool = False, seed: int = 0,
                 num_workers: int = 0) -> DataLoader:
    """One loader over ``smiles`` (unreadable or too long molecules left out)."""
    ids, kept = tokenizer.encode_many(smiles, max_length=max_length)
    if not ids:
        raise ValueError("no molecule of the corpus can be tokenized")
    return DataLoader(TokenDataset(ids), batch_size=batch_size, shuffle=shuffle,
                      collate_fn=collate_tokens, num_workers=num_workers,
                      generator=torch.Generator().manual_seed(seed) if shuffle else None)


def token_loaders(
    tokenizer: Tokenizer, smiles: Sequence[str], *, max_length: int = 100,
    batch_size: int = 512, val_fraction: float = 0.05, seed: int = 0, num_workers: int = 0,
    pool_batches: int = 50,
) -> tuple[DataLoader, DataLoader | None]:
    """Shuffled training and fixed validation loaders over ``smiles``.

    Molecules the tokenizer cannot read or longer than ``max_length`` tokens
    are left out (their number is logged). The split is a seeded permutation,
    so the same corpus and seed give the same split. Training batches group
    molecules of similar length (:class:`LengthBucketSampler`, ``pool_batches``).
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    ids, kept = tokenizer.encode_many(smiles, max_length=max_length)
    if len(kept) < len(smiles):
        log.info("left out %d of %d molecules (unreadable by the %s tokenizer or longer than "
                 "%d tokens)", len(smiles) - len(kept), len(smiles), tokenizer.kind, max_length)
    if not ids:
        raise ValueError("no molecule of the corpus can be tokenized")
    order = torch.randperm(len(ids), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = int(round(len(ids) * val_fraction))
    val_ids = [ids[i] for i in order[:n_val]]
    train_ids = [ids[i] for i in order[n_val:]]
    if not train_ids:
        raise ValueError("val_fraction leaves no molecule for training")
    sampler = LengthBucketSampler([len(row) for row in train_ids], batch_size,
                                  pool_batches=pool_batches, drop_last=len(train_ids) > batch_size,
                                  generator=torch.Generator().manual_seed(seed))
    train = DataLoader(TokenDataset(train_ids), batch_sampler=sampler, collate_fn=collate_tokens,
                       num_workers=num_workers)
    val = (DataLoader(TokenDataset(val_ids), batch_size=batch_size, collate_fn=collate_tokens,
                      num_workers=num_workers) if val_ids else None)
    return train, val

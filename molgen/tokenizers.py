"""Tokenisers that turn molecules into integer sequences for the VAE and back.

Two kinds share one interface (a registry, :data:`TOKENIZERS`, names them):

- ``"smiles"`` (the default): the atom-level regular expression of Schwaller
  et al. (Molecular Transformer, ACS Cent. Sci. 2019): bracket atoms,
  two-letter halogens, ring-closure numbers and bonds are one token each. A
  model's misspellings are invalid SMILES, which RDKit refuses.
- ``"selfies"``: SMILES -> SELFIES (``selfies.encoder``) -> bracketed
  tokens. Every token sequence decodes to a molecule, so a model sampling
  SELFIES tokens is valid by construction: where its tokens break a valence
  rule, the decoder drops or weakens bonds and goes on. Those repaired
  samples are molecules unlike the training ones (no aromatic ring where
  the model misspelt one), so at equal training a SMILES model's valid
  samples lie much closer to the training set (README, MOSES benchmark).

A tokeniser is its vocabulary: :meth:`Tokenizer.fit` builds it from a
corpus, :meth:`Tokenizer.to_dict` gives ``{"kind", "vocabulary"}`` as plain
builtins for a checkpoint's hyperparameters, and :func:`tokenizer_from_dict`
rebuilds it. The four special tokens come first, at fixed ids, so the model
can know them without knowing the tokeniser.

- ``"kekule"``: the SMILES tokens of the molecule's Kekulé form (aromatic
  rings as alternating single and double bonds, through RDKit), so that a
  model never spells an aromatic ring RDKit cannot kekulise.

Decoding returns the string the tokens spell (SMILES for every kind);
deciding whether that is a valid molecule, and canonicalising it, is
:mod:`molgen.chem`'s job. Only the Kekulé kind calls RDKit, to spell its input.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import selfies as sf
import torch

from molgen.errors import InvalidMolecule, TokenizationError

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<bos>", "<eos>", "<unk>")

OnUnknown = Literal["unk", "raise"]

# Schwaller et al.'s SMILES regex. Everything RDKit writes is covered;
# tokenize() checks that the tokens spell the whole input so that a character
# the pattern does not know cannot be dropped silently.
_SMILES_TOKEN = re.compile(
    r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|/|:|~|@|\?|>|\*|\$|%[0-9]{2}|[0-9])"
)
# SMILES atoms written without brackets (the organic subset, aromatic in lower case).
_ORGANIC_ATOMS = frozenset("B C N O P S F I Br Cl b c n o s p *".split())


class Tokenizer(ABC):
    """A fixed vocabulary of tokens with the special tokens at ids 0-3."""

    kind: ClassVar[str]

    def __init__(self, vocabulary: Sequence[str]):
        vocabulary = list(vocabulary)
        if tuple(vocabulary[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(
                f"vocabulary must start with {list(SPECIAL_TOKENS)}, got {vocabulary[:4]}")
        if len(set(vocabulary)) != len(vocabulary):
            repeated = sorted(t for t, n in Counter(vocabulary).items() if n > 1)
            raise ValueError(f"vocabulary repeats tokens {repeated}")
        if len(vocabulary) == len(SPECIAL_TOKENS):
            raise ValueError("vocabulary holds no molecule tokens")
        self.vocabulary: list[str] = vocabulary
        self._index = {token: i for i, token in enumerate(vocabulary)}
        # Object array of the tokens with the special ones as "", so a whole
        # batch of ids is turned into strings with one fancy-indexing step.
        spelled = np.array(vocabulary, dtype=object)
        spelled[: len(SPECIAL_TOKENS)] = ""
        self._spelled = spelled
        # Ids a molecule may start with: atoms. A SELFIES string that starts
        # with [Branch1] or [Ring1] and stops there decodes to the empty
        # molecule, and no SMILES starts with a bond, ring number or bracket.
        self.start_ids: list[int] = [
            i for i, token in enumerate(vocabulary)
            if i >= len(SPECIAL_TOKENS) and self.is_atom_token(token)]
        if not self.start_ids:
            raise ValueError("vocabulary holds no atom token a molecule could start with")

    # -- the part each kind defines ------------------------------------------

    @classmethod
    @abstractmethod
    def tokenize(cls, smiles: str) -> list[str]:
        """Split one SMILES into this kind's tokens; raises :class:`TokenizationError`."""

    @classmethod
    @abstractmethod
    def is_atom_token(cls, token: str) -> bool:
        """Whether ``token`` places an atom (so a molecule may start with it)."""

    @classmethod
    @abstractmethod
    def detokenize_string(cls, text: str) -> str:
        """The SMILES that a concatenation of this kind's tokens spells."""

    # -- shared ----------------------------------------------------------------

    @classmethod
    def fit(cls, smiles: Iterable[str], *, min_count: int = 1) -> Tokenizer:
        """Build the vocabulary of ``smiles`` (tokens seen < ``min_count`` times become <unk>).

        Tokens are ordered by decreasing frequency, then alphabetically, so the
        same corpus always yields the same ids. A molecule this kind cannot
        tokenise raises :class:`TokenizationError`; filter the corpus first with
        :meth:`encode_many` when it holds such molecules.
        """
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        counts: Counter[str] = Counter()
        for text in smiles:
            counts.update(cls.tokenize(text))
        if not counts:
            raise ValueError("cannot fit a tokenizer on an empty corpus")
        kept = sorted((t for t, n in counts.items() if n >= min_count and t not in SPECIAL_TOKENS),
                      key=lambda t: (-counts[t], t))
        return cls([*SPECIAL_TOKENS, *kept])

    def __len__(self) -> int:
        return len(self.vocabulary)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Tokenizer) and self.kind == other.kind
                and self.vocabulary == other.vocabulary)

    def __hash__(self) -> int:
        return hash((self.kind, tuple(self.vocabulary)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, size={len(self)})"

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": ..., "vocabulary": [...]}``: builtins only, for checkpoint hyperparameters."""
        return {"kind": self.kind, "vocabulary": list(self.vocabulary)}

    def encode(self, smiles: str, *, on_unknown: OnUnknown = "unk") -> list[int]:
        """Token ids of ``smiles`` framed by <bos> ... <eos>.

        Tokens outside the vocabulary become <unk> or, with
        ``on_unknown="raise"``, raise :class:`TokenizationError`.
        """
        ids = [BOS]
        for token in self.tokenize(smiles):
            index = self._index.get(token)
            if index is None:
                if on_unknown == "raise":
                    raise TokenizationError(
                        smiles, f"token {token!r} is not in the {self.kind} vocabulary")
                index = UNK
            ids.append(index)
        ids.append(EOS)
        return ids

    def encode_many(
        self, smiles: Iterable[str], *, max_length: int | None = None,
        on_unknown: OnUnknown = "unk",
    ) -> tuple[list[list[int]], list[int]]:
        """Encode a corpus, skipping what cannot be encoded; returns ``(ids, kept positions)``.

        Skipped: molecules this kind cannot tokenise, longer than
        ``max_length`` tokens (<bos> and <eos> not counted) and, with
        ``on_unknown="raise"``, those holding unknown tokens.
        """
        encoded, kept = [], []
        for position, text in enumerate(smiles):
            try:
                ids = self.encode(text, on_unknown=on_unknown)
            except TokenizationError:
                continue
            if max_length is not None and len(ids) - 2 > max_length:
                continue
            encoded.append(ids)
            kept.append(position)
        return encoded, kept

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """The SMILES spelled by ``ids``, read up to the first <eos>; specials are dropped."""
        return self.decode_batch(torch.as_tensor(ids).reshape(1, -1))[0]

    def decode_batch(self, ids: torch.Tensor | np.ndarray) -> list[str]:
        """SMILES of each row of ``ids`` (batch, length), read up to its first <eos>.

        The id-to-token step is one vectorised lookup for the whole batch; what
        remains per molecule is joining its tokens and, for SELFIES, the
        SELFIES -> SMILES translation.
        """
        ids = ids.cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
        if ids.ndim != 2:
            raise ValueError(f"decode_batch expects (batch, length) ids, got shape {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"token ids must lie in [0, {len(self)}) for this vocabulary")
        tokens = self._spelled[ids]  # (batch, length) of str
        after_eos = np.cumsum(ids == EOS, axis=1) > 0
        tokens[after_eos] = ""
        return [self.detokenize_string("".join(row)) for row in tokens.tolist()]


class SelfiesTokenizer(Tokenizer):
    """SMILES in and out, SELFIES tokens in between (validity by construction)."""

    kind = "selfies"

    @classmethod
    def tokenize(cls, smiles: str) -> list[str]:
        try:
            selfies = sf.encoder(smiles.strip(), strict=True)
        except sf.EncoderError as err:
            # selfies' message repeats the SMILES and puts the violation last.
            lines = [line.strip() for line in str(err).splitlines()]
            kept = [line for line in lines if line and not line.startswith(("SMILES:", "Errors:"))]
            raise TokenizationError(smiles, ": ".join(kept)) from err
        if selfies is None or not selfies:
            raise TokenizationError(smiles, "SELFIES could not encode the SMILES")
        return list(sf.split_selfies(selfies))

    @classmethod
    def is_atom_token(cls, token: str) -> bool:
        # [Branch1], [=Branch2], [Ring1], [=Ring2], ... and [nop]/[epsilon] place no atom.
        return not re.fullmatch(r"\[[=#/\\]?(Branch|Ring)\d\]|\[nop\]|\[epsilon\]", token)

    @classmethod
    def detokenize_string(cls, text: str) -> str:
        try:
            return sf.decoder(text)
        except sf.DecoderError as err:  # malformed tokens, e.g. a hand-made "[C"
            raise TokenizationError(text, str(err)) from err


class SmilesTokenizer(Tokenizer):
    """Atom-level SMILES tokens (Schwaller et al.'s regex)."""

    kind = "smiles"

    @classmethod
    def tokenize(cls, smiles: str) -> list[str]:
        text = smiles.strip()
        tokens = _SMILES_TOKEN.findall(text)
        if "".join(tokens) != text:
            position = 0
            for token in tokens:
                if not text.startswith(token, position):
                    break
                position += len(token)
            raise TokenizationError(
                smiles, f"cannot tokenise {text[position:position + 10]!r} at position {position}")
        if not tokens:
            raise TokenizationError(smiles, "empty SMILES")
        return tokens

    @classmethod
    def is_atom_token(cls, token: str) -> bool:
        return token.startswith("[") or token in _ORGANIC_ATOMS

    @classmethod
    def detokenize_string(cls, text: str) -> str:
        return text


class KekuleSmilesTokenizer(SmilesTokenizer):
    """SMILES tokens of the molecule's Kekulé form: ``c1ccccc1O`` is read as ``OC1=CC=CC=C1``.

    A model of Kekulé SMILES cannot misspell an aromatic ring that RDKit fails to
    kekulise (most of an aromatic SMILES model's invalid samples, README): every ring
    it writes is single and double bonds, which RDKit reads and re-aromatises. Its
    misspellings are valences, which the syntax mask (:mod:`molgen.grammar`) can count.
    """

    kind = "kekule"

    @classmethod
    def tokenize(cls, smiles: str) -> list[str]:
        from molgen import chem  # RDKit, for the one kind that needs it

        try:
            kekule = chem.kekule_smiles(smiles)
        except InvalidMolecule as err:
            raise TokenizationError(smiles, err.reason) from err
        return super().tokenize(kekule)


TOKENIZERS: dict[str, type[Tokenizer]] = {
    SelfiesTokenizer.kind: SelfiesTokenizer,
    SmilesTokenizer.kind: SmilesTokenizer,
    KekuleSmilesTokenizer.kind: KekuleSmilesTokenizer,
}


def tokenizer_class(kind: str) -> type[Tokenizer]:
    """The tokenizer class registered as ``kind`` (``"selfies"``, ``"smiles"``, ``"kekule"``)."""
    try:
        return TOKENIZERS[kind]
    except KeyError:
        raise ValueError(f"unknown tokenizer {kind!r}; known: {sorted(TOKENIZERS)}") from None


def fit_tokenizer(kind: str, smiles: Iterable[str], *, min_count: int = 1) -> Tokenizer:
    """``tokenizer_class(kind).fit(smiles)``."""
    return tokenizer_class(kind).fit(smiles, min_count=min_count)


def tokenizer_from_dict(state: Mapping[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from :meth:`Tokenizer.to_dict` output (e.g. checkpoint hparams)."""
    if set(state) != {"kind", "vocabulary"}:
        raise ValueError(f"expected keys 'kind' and 'vocabulary', got {sorted(state)}")
    return tokenizer_class(state["kind"])(state["vocabulary"])

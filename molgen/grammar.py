"""SMILES syntax as a mask on the decoder's next-token choice.

A SMILES model spells some molecules wrongly. Three in ten of the misspellings
of the 40-minute MOSES model are syntax: a ``)`` with no branch open, a
molecule ended with a branch or a ring bond open, a ring closed onto the
atom that opened it or onto its neighbour (a second bond between two bonded
atoms). Some unclosed rings start with a misnumbered one: RDKit opens a
ring bond with the lowest number free, and a model that opens ring 5 with
rings 1-3 open may go on to close 4, which never opened. :class:`SmilesSyntax`
tracks, for every row of a batch being sampled, what is open (branches,
ring-bond numbers and the bond each opened with), which atom the next bond
starts from and its neighbour, and masks the tokens that cannot be right
there; the sampler draws from the model's distribution renormalised over
the tokens left. The rest of the misspellings (aromatic rings RDKit cannot
kekulise, valences) are chemistry, not syntax, and stay RDKit's to refuse.

The rules, by the class of the token before (``START`` at the first token):

========  ======================================================
after     may follow
========  ======================================================
START     an atom
atom      an atom, a bond, ``(``, ``)``, a ring number, ``.``
ring no.  the same as after an atom
bond      an atom or a ring number
``(``     an atom or a bond
``)``     an atom, a bond, ``(``, ``)``, ``.``
``.``     an atom
========  ======================================================

with ``)`` only inside a branch; a ring number never where it would close a
ring bond onto the atom that opened it or onto that atom's neighbour, or
with a bond other than the one it was opened with; a ring bond opened with
the lowest number free (not one just closed at the same atom: RDKit writes
"C12", not "C11"). None of 9,000 MOSES SMILES breaks these rules
(``tests/molgen/test_grammar.py``). Tokens the grammar does not know (``+``,
``@``, ``~`` outside brackets) are never drawn.

<eos> is never masked (after the first token): the model decides where a
molecule ends, and one it ends with a branch or ring bond open is refused by
RDKit as before. Forced to go on, such rows wrote atoms up to the length
limit or closed their rings late, into molecules less drug-like (README).

No RDKit and no model here: the vocabulary in, masks out, one batched step
at a time (a few tensor operations a step, whatever the batch).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

from molgen.tokenizers import EOS, SmilesTokenizer

# Token classes; START is the state before the first token.
START, ATOM, BOND, OPEN, CLOSE, RING, DOT, OTHER = range(8)
_BONDS = frozenset("- = # $ : / \\".split())
_RING = re.compile(r"%[0-9]{2}|[0-9]")

# _FOLLOW[c]: the classes that may come after a token of class c.
_FOLLOW: dict[int, set[int]] = {
    START: {ATOM},
    ATOM: {ATOM, BOND, OPEN, CLOSE, RING, DOT},
    RING: {ATOM, BOND, OPEN, CLOSE, RING, DOT},
    BOND: {ATOM, RING},
    OPEN: {ATOM, BOND},
    CLOSE: {ATOM, BOND, OPEN, CLOSE, DOT},
    DOT: {ATOM},
}


def token_class(token: str) -> int:
    """The syntactic class of one SMILES token (specials are OTHER)."""
    if token.startswith("<"):
        return OTHER
    if SmilesTokenizer.is_atom_token(token):
        return ATOM
    if token in _BONDS:
        return BOND
    if token == "(":
        return OPEN
    if token == ")":
        return CLOSE
    if token == ".":
        return DOT
    if _RING.fullmatch(token):
        return RING
    return OTHER


class SmilesSyntax:
    """The syntax of a SMILES vocabulary; :meth:`start` gives the state of a batch."""

    def __init__(self, vocabulary: Sequence[str]):
        classes = [token_class(token) for token in vocabulary]
        self.token_class = torch.tensor(classes, dtype=torch.long)
        self.close_ids = torch.tensor([i for i, c in enumerate(classes) if c == CLOSE],
                                      dtype=torch.long)
        # in numeric order, so that slot 0 is "1": RDKit opens a ring bond with the lowest
        # number free
        rings = sorted((i for i, c in enumerate(classes) if c == RING),
                       key=lambda i: int(vocabulary[i].lstrip("%")))
        self.ring_ids = torch.tensor(rings, dtype=torch.long)
        # ring_slot[id]: the column of a ring-number token in the per-row ring state, -1 else
        self.ring_slot = torch.full((len(vocabulary),), -1, dtype=torch.long)
        self.ring_slot[self.ring_ids] = torch.arange(len(self.ring_ids))
        follow = torch.zeros(max(_FOLLOW) + 1, len(vocabulary), dtype=torch.bool)
        for before, after in _FOLLOW.items():
            follow[before] = torch.tensor([c in after for c in classes])
        self.follow = follow  # (classes, vocab)

    def start(self, rows: int, max_length: int, device: torch.device | str = "cpu"
              ) -> SyntaxState:
        """The state of ``rows`` empty SMILES of at most ``max_length`` tokens."""
        return SyntaxState(self, rows, max_length, torch.device(device))


class SyntaxState:
    """Per-row syntax state of a batch being decoded: :meth:`mask` before each draw,
    :meth:`advance` with the drawn tokens, :meth:`keep` when finished rows leave."""

    def __init__(self, syntax: SmilesSyntax, rows: int, max_length: int, device: torch.device):
        self.follow = syntax.follow.to(device)
        self.token_class = syntax.token_class.to(device)
        self.ring_slot = syntax.ring_slot.to(device)
        self.close_ids = syntax.close_ids.to(device)
        self.ring_ids = syntax.ring_ids.to(device)
        long = dict(dtype=torch.long, device=device)
        self.last = torch.full((rows,), START, **long)
        self.depth = torch.zeros(rows, **long)  # open branches
        self.atoms = torch.zeros(rows, **long)  # atoms placed so far
        self.current = torch.full((rows,), -1, **long)  # the atom the next bond starts from
        self.neighbour = torch.full((rows, max_length + 2), -1, **long)  # atom -> its chain parent
        self.branch_root = torch.full((rows, max_length + 2), -1, **long)  # depth -> atom
        self.ring_open = torch.zeros(rows, len(self.ring_ids), dtype=torch.bool, device=device)
        self.ring_atom = torch.full((rows, len(self.ring_ids)), -1, **long)
        self.ring_bond = torch.full((rows, len(self.ring_ids)), -1, **long)  # its opening bond
        self.ring_closed_at = torch.full((rows, len(self.ring_ids)), -1, **long)  # atom
        self.last_token = torch.full((rows,), -1, **long)

    def _current_neighbour(self) -> torch.Tensor:
        return self.neighbour.gather(1, self.current.clamp(min=0).unsqueeze(1)).squeeze(1)

    def mask(self) -> torch.Tensor:
        """(rows, vocab) additive mask: 0 where the next token may go, -inf where not."""
        allowed = self.follow[self.last]  # a copy, (rows, vocab)
        inside = (self.depth > 0).unsqueeze(1)
        allowed[:, self.close_ids] &= inside
        allowed[:, EOS] = self.last != START  # the model decides where a molecule ends
        if len(self.ring_ids):
            onto = ((self.ring_atom == self.current.unsqueeze(1))
                    | (self.ring_atom == self._current_neighbour().unsqueeze(1)))
            # a bond on both ends of a ring bond must be the same bond
            bond = torch.where(self.last == BOND, self.last_token, -1).unsqueeze(1)
            clash = (bond >= 0) & (self.ring_bond >= 0) & (self.ring_bond != bond)
            closing_ok = ~(onto | clash)
            # not one closed at this very atom: RDKit writes "C12", not "C11"
            free = ~self.ring_open & (self.ring_closed_at != self.current.unsqueeze(1))
            lowest_free = torch.zeros_like(free).scatter_(
                1, free.to(torch.uint8).argmax(dim=1, keepdim=True), True) & free
            allowed[:, self.ring_ids] &= torch.where(self.ring_open, closing_ok, lowest_free)
        return torch.zeros(allowed.shape, device=allowed.device).masked_fill_(~allowed,
                                                                               float("-inf"))

    def advance(self, token: torch.Tensor) -> None:
        """Take each row's drawn token (rows,)."""
        cls = self.token_class[token]
        rows = torch.arange(len(token), device=token.device)
        atom = cls == ATOM
        if atom.any():
            self.neighbour[rows[atom], self.atoms[atom]] = self.current[atom]
            self.current = torch.where(atom, self.atoms, self.current)
            self.atoms += atom.long()
        opened = cls == OPEN
        if opened.any():
            self.branch_root[rows[opened], self.depth[opened]] = self.current[opened]
            self.depth += opened.long()
        closed = cls == CLOSE
        if closed.any():
            self.depth -= closed.long()
            root = self.branch_root.gather(1, self.depth.clamp(min=0).unsqueeze(1)).squeeze(1)
            self.current = torch.where(closed, root, self.current)
        ring = cls == RING
        if ring.any():
            r, slot = rows[ring], self.ring_slot[token[ring]]
            opening = ~self.ring_open[r, slot]
            self.ring_open[r, slot] = opening
            none = torch.full_like(slot, -1)
            self.ring_atom[r, slot] = torch.where(opening, self.current[ring], none)
            bond = torch.where(self.last[ring] == BOND, self.last_token[ring], none)
            self.ring_bond[r, slot] = torch.where(opening, bond, none)
            self.ring_closed_at[r, slot] = torch.where(opening, none, self.current[ring])
        self.current = torch.where(cls == DOT, torch.full_like(self.current, -1), self.current)
        self.last, self.last_token = cls, token

    def keep(self, open_: torch.Tensor) -> None:
        """Keep only the rows where ``open_`` (rows,) is True."""
        for name in ("last", "last_token", "depth", "atoms", "current", "neighbour",
                     "branch_root", "ring_open", "ring_atom", "ring_bond", "ring_closed_at"):
            setattr(self, name, getattr(self, name)[open_])

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
the tokens left. Given each atom token's capacity (``molgen.chem.bond_capacity``,
RDKit's own count), it also keeps every atom within its valence. What is left
is aromatic rings RDKit cannot kekulise, which a model of Kekulé SMILES
(``molgen.tokenizers.KekuleSmilesTokenizer``) never writes: under this mask
such a model goes wrong only where it ends a row with a branch or ring bond
open, and with :meth:`SmilesSyntax.complete` not even there.

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

with ``)`` only inside a branch; no ring number right after a branch's first
bond (``C(=1)`` is not SMILES); a ring number never where it would close a
ring bond onto the atom that opened it or onto that atom's neighbour, or
with a bond other than the one it was opened with, or onto an atom the current
one already closed a ring bond onto (``C12CCC12``); a ring bond opened with
the lowest number free (not one just closed at the same atom: RDKit writes
"C12", not "C11"). None of 9,000 MOSES SMILES breaks these rules
(``tests/molgen/test_grammar.py``). Tokens the grammar does not know (``+``,
``@``, ``~`` outside brackets) are never drawn.

<eos> is never masked (after the first token): the model decides where a
molecule ends. Forced to go on, rows ended with a branch or ring bond open
wrote atoms up to the length limit or closed their rings late, into
molecules less drug-like (README). :meth:`SmilesSyntax.complete` can drop
what such a row left open (the ``(``, the ring number and its bond) instead:
every row is then a molecule, but a poor one (MOSES, Kekulé model: 4% of
rows, FCD/Test 16.7 on their own), so the task leaves it off unless asked.

No RDKit and no model here: the vocabulary in, masks out, one batched step
at a time (a few tensor operations a step, whatever the batch).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

from molgen.tokenizers import EOS, PAD, SmilesTokenizer

# Token classes; START is the state before the first token.
START, ATOM, BOND, OPEN, CLOSE, RING, DOT, OTHER = range(8)
_BONDS = frozenset("- = # $ : / \\".split())
# bond orders as they count against valence (aromatic ":" as single: its atoms are unlimited)
_BOND_ORDER = {"-": 1, "/": 1, "\\": 1, ":": 1, "=": 2, "#": 3, "$": 4}
_UNLIMITED = 1 << 20
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
    """The syntax of a SMILES vocabulary; :meth:`start` gives the state of a batch.

    ``capacity`` (optional, one number a token): how many bond orders each atom token
    may take (``molgen.chem.bond_capacity``; 0 where it has no fixed limit, as for the
    aromatic atoms, whose bonds count 1.5). With it the mask also keeps every atom
    within its valence: no bond, ring bond or branch from an atom with no room left, no
    atom that cannot take the bond drawn before it.
    """

    def __init__(self, vocabulary: Sequence[str], capacity: Sequence[int] | None = None):
        classes = [token_class(token) for token in vocabulary]
        self.token_class = torch.tensor(classes, dtype=torch.long)
        if capacity is not None and len(capacity) != len(vocabulary):
            raise ValueError(f"{len(capacity)} capacities for {len(vocabulary)} tokens")
        unlimited = [c == ATOM and (capacity is None or capacity[i] <= 0)
                     for i, c in enumerate(classes)]
        self.capacity = torch.tensor(
            [_UNLIMITED if unlimited[i] else capacity[i] if c == ATOM and capacity else 0
             for i, c in enumerate(classes)], dtype=torch.long)
        self.bond_order = torch.tensor([_BOND_ORDER.get(token, 0) for token in vocabulary],
                                       dtype=torch.long)
        self.atom_ids = torch.tensor([i for i, c in enumerate(classes) if c == ATOM],
                                     dtype=torch.long)
        self.bond_ids = torch.tensor([i for i, c in enumerate(classes) if c == BOND],
                                     dtype=torch.long)
        self.open_ids = torch.tensor([i for i, c in enumerate(classes) if c == OPEN],
                                     dtype=torch.long)
        # rows :meth:`complete` has seen and changed, for reports of how often it acts
        self.rows_seen = self.rows_completed = 0
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
        # a bond no atom of the vocabulary could take is never drawn (it would lead nowhere)
        most = int(self.capacity.max())
        follow[:, self.bond_order > most] = False
        self.follow = follow  # (classes, vocab)

    def start(self, rows: int, max_length: int, device: torch.device | str = "cpu"
              ) -> SyntaxState:
        """The state of ``rows`` empty SMILES of at most ``max_length`` tokens."""
        return SyntaxState(self, rows, max_length, torch.device(device))

    def complete(self, ids: torch.Tensor) -> torch.Tensor:
        """``ids`` (rows, length) with what a row ended without closing made <pad>
        (which spells nothing): a ``(`` never closed, a ring number never closed with
        the bond before it, and a bond, ``(`` or ``.`` right before <eos>.

        The model decides where a molecule ends; this keeps what it wrote before the
        end a molecule: ``CC(C1CC`` becomes ``CCCCC``. No bond is added, so atoms stay
        within their valence. Rows that end closed are returned as they are.
        """
        classes = self.token_class.tolist()
        out = ids.clone()
        for row, tokens in enumerate(ids.tolist()):
            branches: list[int] = []  # positions of the open "("
            rings: dict[int, list[int]] = {}  # ring token -> positions it opened with
            end = len(tokens)
            for position, token in enumerate(tokens):
                if token == EOS:
                    end = position
                    break
                cls = classes[token]
                if cls == OPEN:
                    branches.append(position)
                elif cls == CLOSE and branches:
                    branches.pop()
                elif cls == RING:
                    if token in rings:
                        del rings[token]
                    else:
                        bond = position > 0 and classes[tokens[position - 1]] == BOND
                        rings[token] = [position - 1, position] if bond else [position]
            dropped = set(branches).union(*rings.values())
            last = end - 1
            while last >= 0 and (last in dropped or classes[tokens[last]] in (BOND, OPEN, DOT)):
                dropped.add(last)
                last -= 1
            if dropped:
                out[row, sorted(dropped)] = PAD
                self.rows_completed += 1
        self.rows_seen += len(ids)
        return out


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
        self.before_last = torch.full((rows,), START, **long)
        self.depth = torch.zeros(rows, **long)  # open branches
        self.atoms = torch.zeros(rows, **long)  # atoms placed so far
        self.current = torch.full((rows,), -1, **long)  # the atom the next bond starts from
        self.neighbour = torch.full((rows, max_length + 2), -1, **long)  # atom -> its chain parent
        self.branch_root = torch.full((rows, max_length + 2), -1, **long)  # depth -> atom
        self.ring_open = torch.zeros(rows, len(self.ring_ids), dtype=torch.bool, device=device)
        self.ring_atom = torch.full((rows, len(self.ring_ids)), -1, **long)
        self.ring_bond = torch.full((rows, len(self.ring_ids)), -1, **long)  # its opening bond
        self.ring_closed_at = torch.full((rows, len(self.ring_ids)), -1, **long)  # atom
        self.ring_closed_from = torch.full((rows, len(self.ring_ids)), -1, **long)  # its opener
        self.last_token = torch.full((rows,), -1, **long)
        # valence: bond orders each atom may still take, and what each open ring bond took
        self.capacity = syntax.capacity.to(device)
        self.bond_order = syntax.bond_order.to(device)
        self.atom_ids = syntax.atom_ids.to(device)
        self.bond_ids = syntax.bond_ids.to(device)
        self.open_ids = syntax.open_ids.to(device)
        self.room = torch.zeros(rows, max_length + 2, **long)
        self.ring_order = torch.zeros(rows, len(self.ring_ids), **long)

    def _current_neighbour(self) -> torch.Tensor:
        return self.neighbour.gather(1, self.current.clamp(min=0).unsqueeze(1)).squeeze(1)

    def _current_room(self) -> torch.Tensor:
        """Bond orders the current atom may still take (unlimited with no current atom)."""
        room = self.room.gather(1, self.current.clamp(min=0).unsqueeze(1)).squeeze(1)
        return torch.where(self.current >= 0, room, _UNLIMITED)

    def _next_order(self) -> torch.Tensor:
        """The order of the bond the next atom or ring number makes: the bond just drawn,
        or single."""
        return torch.where(self.last == BOND, self.bond_order[self.last_token.clamp(min=0)], 1)

    def mask(self) -> torch.Tensor:
        """(rows, vocab) additive mask: 0 where the next token may go, -inf where not."""
        allowed = self.follow[self.last]  # a copy, (rows, vocab)
        inside = (self.depth > 0).unsqueeze(1)
        allowed[:, self.close_ids] &= inside
        allowed[:, EOS] = self.last != START  # the model decides where a molecule ends
        if len(self.ring_ids):
            # ... or onto an atom this one already closed a ring bond onto ("C12CCC12")
            closed_here = self.ring_closed_at == self.current.unsqueeze(1)  # (rows, slots)
            again = ((self.ring_closed_from.unsqueeze(2) == self.ring_atom.unsqueeze(1))
                     & closed_here.unsqueeze(2)).any(dim=1)
            onto = ((self.ring_atom == self.current.unsqueeze(1))
                    | (self.ring_atom == self._current_neighbour().unsqueeze(1)) | again)
            # a bond on both ends of a ring bond must be the same bond
            bond = torch.where(self.last == BOND, self.last_token, -1).unsqueeze(1)
            clash = (bond >= 0) & (self.ring_bond >= 0) & (self.ring_bond != bond)
            closing_ok = ~(onto | clash)
            # not one closed at this very atom: RDKit writes "C12", not "C11"
            free = ~self.ring_open & (self.ring_closed_at != self.current.unsqueeze(1))
            lowest_free = torch.zeros_like(free).scatter_(
                1, free.to(torch.uint8).argmax(dim=1, keepdim=True), True) & free
            allowed[:, self.ring_ids] &= torch.where(self.ring_open, closing_ok, lowest_free)
            # a branch starts with an atom, its bond before it if any: "C(=1)" is not SMILES
            allowed[:, self.ring_ids] &= ~((self.last == BOND) & (self.before_last == OPEN)
                                           ).unsqueeze(1)
        self._mask_valence(allowed)
        return torch.zeros(allowed.shape, device=allowed.device).masked_fill_(~allowed,
                                                                               float("-inf"))

    def _mask_valence(self, allowed: torch.Tensor) -> None:
        room, order = self._current_room(), self._next_order()
        after_bond = self.last == BOND  # the bond drawn was checked against room then
        # a new atom takes the bond to the current atom (none after "." or at the start)
        incoming = torch.where(self.current >= 0, order, 0)
        fits = self.capacity[self.atom_ids].unsqueeze(0) >= incoming.unsqueeze(1)
        allowed[:, self.atom_ids] &= fits & (after_bond | (room >= 1)).unsqueeze(1)
        allowed[:, self.bond_ids] &= room.unsqueeze(1) >= self.bond_order[self.bond_ids]
        allowed[:, self.open_ids] &= (room >= 1).unsqueeze(1)
        if len(self.ring_ids):
            # opening takes `order` now; closing takes the order it opened with, or the
            # bond drawn before it, whose excess over that the opening atom must still hold
            closing = torch.where(after_bond.unsqueeze(1), order.unsqueeze(1), self.ring_order)
            opener_room = self.room.gather(1, self.ring_atom.clamp(min=0))
            closing_fits = ((after_bond.unsqueeze(1) | (room.unsqueeze(1) >= closing))
                            & (opener_room >= closing - self.ring_order))
            opening_fits = (after_bond | (room >= 1)).unsqueeze(1)
            allowed[:, self.ring_ids] &= torch.where(self.ring_open, closing_fits, opening_fits)

    def _take_valence(self, token: torch.Tensor, cls: torch.Tensor) -> None:
        """Count the bond orders ``token`` makes, before the state moves past it."""
        rows = torch.arange(len(token), device=token.device)
        order, current = self._next_order(), self.current.clamp(min=0)
        has_current = self.current >= 0
        atom = cls == ATOM
        if atom.any():
            incoming = torch.where(has_current, order, 0)
            self.room[rows, current] -= torch.where(atom & has_current, order, 0)
            new = rows[atom]
            self.room[new, self.atoms[atom]] = self.capacity[token[atom]] - incoming[atom]
        ring = cls == RING
        if ring.any():
            r, slot = rows[ring], self.ring_slot[token[ring]]
            closing = self.ring_open[r, slot]
            took = self.ring_order[r, slot]
            made = torch.where(closing & (self.last[ring] != BOND), took, order[ring])
            self.room[r, current[ring]] -= made
            opener = self.ring_atom[r, slot].clamp(min=0)
            self.room[r, opener] -= torch.where(closing, made - took, 0)
            self.ring_order[r, slot] = torch.where(closing, 0, made)

    def advance(self, token: torch.Tensor) -> None:
        """Take each row's drawn token (rows,)."""
        cls = self.token_class[token]
        rows = torch.arange(len(token), device=token.device)
        self._take_valence(token, cls)
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
            self.ring_closed_from[r, slot] = torch.where(opening, none, self.ring_atom[r, slot])
            self.ring_atom[r, slot] = torch.where(opening, self.current[ring], none)
            bond = torch.where(self.last[ring] == BOND, self.last_token[ring], none)
            self.ring_bond[r, slot] = torch.where(opening, bond, none)
            self.ring_closed_at[r, slot] = torch.where(opening, none, self.current[ring])
        self.current = torch.where(cls == DOT, torch.full_like(self.current, -1), self.current)
        self.before_last, self.last, self.last_token = self.last, cls, token

    def keep(self, open_: torch.Tensor) -> None:
        """Keep only the rows where ``open_`` (rows,) is True."""
        for name in ("last", "before_last", "last_token", "depth", "atoms", "current",
                     "neighbour", "branch_root", "ring_open", "ring_atom", "ring_bond",
                     "ring_closed_at", "ring_closed_from", "room", "ring_order"):
            setattr(self, name, getattr(self, name)[open_])

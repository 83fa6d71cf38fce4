"""The SMILES syntax mask: it never rules out a token of a real SMILES, it rules out
the misspellings it names, and an untrained model decoding under it writes only
SMILES that RDKit parses; with valences and Kekulé SMILES, only molecules."""

from __future__ import annotations

import random

import pytest
import torch
from rdkit import Chem

from molgen import chem, moses_data
from molgen.grammar import ATOM, BOND, CLOSE, DOT, OPEN, OTHER, RING, SmilesSyntax, token_class
from molgen.tokenizers import BOS, EOS, SmilesTokenizer, fit_tokenizer
from molgen.vae import VAE, VAEConfig

from .drugs import DRUGS

# Real SMILES and the forms RDKit does not write but SMILES allows: a bond before a ring
# number on both ends, two-digit ring numbers, ring bonds across a dot, nested branches.
SPELLINGS = [*DRUGS, "C1CC1", "C=1CCC=1", "C1.C1", "CC(C(C)(C)C)C", "CC.O", "c1ccc2ccccc2c1",
             "C1CC2CC1CC2", "C12CC1CC2", "[H]C([H])([H])[H]", "N#CC(=O)N", "C/C=C/C",
             "C1CC2CC3CC4CC5CC6CC7CC8CC9CC%10CC%10C9C8C7C6C5C4C3C2C1"]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return SPELLINGS + random.Random(0).sample(moses_data.moses_smiles("test_scaffolds"), 500)


@pytest.fixture(scope="module")
def tokenizer(corpus):
    fitted = fit_tokenizer("smiles", corpus)
    charged = [t for t in ("[O-]", "[N+]") if t not in fitted.vocabulary]
    return SmilesTokenizer([*fitted.vocabulary, *charged, "+"])  # "+": outside the grammar


@pytest.fixture(scope="module")
def kekule(corpus):
    return fit_tokenizer("kekule", corpus)


def with_valences(tokenizer) -> SmilesSyntax:
    return SmilesSyntax(tokenizer.vocabulary, [chem.bond_capacity(t) if token_class(t) == ATOM
                                               else 0 for t in tokenizer.vocabulary])


def allowed(tokenizer, smiles: str, syntax: SmilesSyntax | None = None) -> list[set[str]]:
    """The tokens the grammar allows before each token of ``smiles`` and before <eos>."""
    state = (syntax or SmilesSyntax(tokenizer.vocabulary)).start(1, 200)
    out = []
    for token in tokenizer.encode(smiles)[1:]:  # no <bos>
        out.append({tokenizer.vocabulary[i] for i in (state.mask()[0] == 0).nonzero()[:, 0]})
        state.advance(torch.tensor([token]))
    return out


def test_token_classes():
    assert [token_class(t) for t in ("c", "[nH]", "Cl", "=", "(", ")", "1", "%12", "+", "<eos>")
            ] == [ATOM, ATOM, ATOM, BOND, OPEN, CLOSE, RING, RING, OTHER, OTHER]


@pytest.mark.parametrize("spelling", ["smiles", "smiles with valences", "kekule with valences"])
def test_no_token_of_a_real_smiles_is_ruled_out(tokenizer, kekule, corpus, spelling):
    vocabulary = kekule if spelling.startswith("kekule") else tokenizer
    syntax = with_valences(vocabulary) if spelling.endswith("valences") else None
    for smiles in corpus:
        tokens = [*vocabulary.tokenize(smiles), "<eos>"]
        for position, (token, ok) in enumerate(zip(tokens, allowed(vocabulary, smiles, syntax),
                                                   strict=True)):
            assert token in ok, (smiles, position, token)


@pytest.mark.parametrize(("prefix", "ruled_out"), [
    ("CC(C)(C)(C)", "C"),  # a fifth bond on a carbon
    ("CC(C)(C)(C)", "("),
    ("C[O-]", "1"),  # ... also as a ring bond
    ("CC(C)(C)", "="),  # a double bond where one single bond is left
    ("CC(C)(C)", "#"),
    ("C#N", "C"),  # an atom onto a nitrile nitrogen
    ("O=", "F"),  # an atom that cannot take the bond drawn before it
    ("N#", "O"),
    ("C[O-]", "C"),  # charge counts: an oxide takes one bond
    ("C[N+](C)(C)", "="),  # an ammonium four
    ("CC1(C)CC=", "1"),  # a ring bond closed double onto an atom with one bond's room
])
def test_valence_breaking_tokens_are_ruled_out(tokenizer, prefix, ruled_out):
    state = with_valences(tokenizer).start(1, 20)
    plain = SmilesSyntax(tokenizer.vocabulary).start(1, 20)
    for token in SmilesTokenizer.tokenize(prefix):
        state.advance(torch.tensor([tokenizer.vocabulary.index(token)]))
        plain.advance(torch.tensor([tokenizer.vocabulary.index(token)]))
    assert state.mask()[0, tokenizer.vocabulary.index(ruled_out)] == float("-inf")
    assert plain.mask()[0, tokenizer.vocabulary.index(ruled_out)] == 0  # syntax alone allows it
    assert state.mask()[0, EOS] == 0


def test_aromatic_atoms_have_no_valence_limit(tokenizer):
    syntax = with_valences(tokenizer)
    assert syntax.capacity[tokenizer.vocabulary.index("c")] > 8
    assert syntax.capacity[tokenizer.vocabulary.index("C")] == 4
    assert syntax.capacity[tokenizer.vocabulary.index("(")] == 0


@pytest.mark.parametrize(("written", "completed"), [
    ("CC(C1CC", "CCCCC"),  # a branch and a ring bond left open
    ("C=1CC", "CCC"),  # ... with the ring bond's bond
    ("CC=", "CC"),
    ("CC(", "CC"),
    ("CC(=", "CC"),
    ("C.", "C"),
    ("C1CC1(C)C", "C1CC1(C)C"),  # closed: as it was
    ("C12CC1CC2", "C12CC1CC2"),
    ("C1CC2CC1", "C1CCCC1"),
])
def test_complete_drops_what_a_row_left_open(tokenizer, written, completed):
    ids = torch.tensor([tokenizer.encode(written) + [tokenizer.vocabulary.index("C")] * 2])
    syntax = SmilesSyntax(tokenizer.vocabulary)
    out = syntax.complete(ids[:, 1:])  # as sampled: no <bos>
    assert tokenizer.decode(out[0]) == completed
    assert (syntax.rows_seen, syntax.rows_completed) == (1, int(written != completed))
    assert out.shape == ids[:, 1:].shape and (out[0, -2:] == ids[0, -2:]).all()  # after <eos>


@pytest.mark.parametrize(("prefix", "ruled_out"), [
    ("C", ")"),  # no branch open
    ("C(", ")"),  # an empty branch
    ("C=", "("),  # a branch from a bond
    ("C=", "="),
    ("C1", "1"),  # a ring bond from an atom to itself
    ("N1C", "1"),  # a second bond between bonded atoms
    ("CC1(C)C", "1"),  # ... also where the neighbour is a branch's root
    ("C=1CC#", "1"),  # a ring bond opened double, closed triple
    ("C12CCC1", "2"),  # a second ring bond between the same two atoms
    ("C(C)", "1"),  # a ring number after a branch
    ("C(=", "1"),  # ... or as a branch's first bond
    ("C", "2"),  # a ring opened with a number other than the lowest free
    ("C1CCC1", "1"),  # ... or with the one just closed at the same atom (RDKit: "C12")
    ("C", "+"),  # outside the grammar
])
def test_misspellings_are_ruled_out(tokenizer, prefix, ruled_out):
    state = SmilesSyntax(tokenizer.vocabulary).start(1, 20)
    for token in SmilesTokenizer.tokenize(prefix):
        state.advance(torch.tensor([tokenizer.vocabulary.index(token)]))
    assert state.mask()[0, tokenizer.vocabulary.index(ruled_out)] == float("-inf")
    # and the same prefix leaves an atom to draw
    assert state.mask()[0, tokenizer.vocabulary.index("C")] == 0


@pytest.mark.parametrize("prefix", ["C", "C(C", "C1CC", "C=", "C("])
def test_the_model_decides_where_a_molecule_ends(tokenizer, prefix):
    """Even with a branch, a ring bond or a bond open: forcing such a row on made it write
    to the length limit or close its rings late, into molecules less drug-like."""
    state = SmilesSyntax(tokenizer.vocabulary).start(1, 20)
    assert state.mask()[0, EOS] == float("-inf")  # but a molecule has at least one atom
    for token in SmilesTokenizer.tokenize(prefix):
        state.advance(torch.tensor([tokenizer.vocabulary.index(token)]))
    assert state.mask()[0, EOS] == 0


def _left_open(smiles: str) -> bool:
    """Whether ``smiles`` ends with a branch, a ring bond, a bond or a "." open (counted
    here without the grammar)."""
    tokens = SmilesTokenizer.tokenize(smiles)
    depth = tokens.count("(") - tokens.count(")")
    rings = [t for t in tokens if token_class(t) == RING]
    unpaired = any(rings.count(r) % 2 for r in set(rings))
    return depth > 0 or unpaired or token_class(tokens[-1]) in (BOND, OPEN, DOT)


def test_an_untrained_model_decodes_parseable_smiles_under_the_grammar(tokenizer):
    torch.manual_seed(0)
    model = VAE(VAEConfig(vocab_size=len(tokenizer), embedding_dim=16, encoder_hidden=16,
                          decoder_hidden=32, decoder_layers=1, latent_dim=8)).eval()
    with torch.no_grad():  # favour <eos> enough for random rows to end
        model.output.bias[EOS] += 2.0
    z = torch.randn(400, 8, generator=torch.Generator().manual_seed(0))
    results = {}
    for grammar in (None, SmilesSyntax(tokenizer.vocabulary)):
        ids = model.sample(z, max_length=60, start_ids=tokenizer.start_ids,
                           generator=torch.Generator().manual_seed(1), grammar=grammar)
        assert BOS not in ids
        # judged: the rows that ended with nothing left open
        smiles = [s for s in tokenizer.decode_batch(ids) if not _left_open(s)]
        parsed = sum(Chem.MolFromSmiles(s, sanitize=False) is not None for s in smiles)
        results[grammar is not None] = (len(smiles), parsed)
    closed, parsed = results[True]
    assert closed > 100 and parsed == closed  # under the grammar every one of them parses
    closed, parsed = results[False]
    assert closed - parsed >= 10  # without it some do not (")" with no branch open, ...)


def test_an_untrained_kekule_model_decodes_only_molecules_under_valences(kekule):
    """Kekulé SMILES have no aromatic ring to misspell: with valences counted and what a row
    leaves open dropped, every row is a molecule RDKit sanitises."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(vocab_size=len(kekule), embedding_dim=16, encoder_hidden=16,
                          decoder_hidden=32, decoder_layers=1, latent_dim=8)).eval()
    with torch.no_grad():
        model.output.bias[EOS] += 2.0
    z = torch.randn(400, 8, generator=torch.Generator().manual_seed(0))
    valid = {}
    for syntax in (None, with_valences(kekule)):
        ids = model.sample(z, max_length=60, start_ids=kekule.start_ids,
                           generator=torch.Generator().manual_seed(1), grammar=syntax)
        if syntax is not None:
            ids = syntax.complete(ids)
        valid[syntax is not None] = sum(chem.is_valid(s) for s in kekule.decode_batch(ids))
    assert valid[True] == 400
    assert valid[False] < 300

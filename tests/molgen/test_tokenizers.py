"""Tokenisers on real drug molecules: round trips, vocabulary, special tokens,
batched decoding against one-by-one decoding, and the checkpoint form."""

from __future__ import annotations

import re

import pytest
import torch

from molgen import chem
from molgen.errors import MolgenError, TokenizationError
from molgen.tokenizers import (
    BOS,
    EOS,
    PAD,
    SPECIAL_TOKENS,
    UNK,
    KekuleSmilesTokenizer,
    SelfiesTokenizer,
    SmilesTokenizer,
    fit_tokenizer,
    tokenizer_class,
    tokenizer_from_dict,
)

from .drugs import DRUGS

# the shared drugs plus molecules with stereo centres, an azo group, bromine and a
# permanent charge, so every kind of token is exercised
MOLECULES = [
    *DRUGS,
    "C[C@]12CC[C@H]3[C@@H](CCc4cc(O)ccc34)[C@@H]1CC[C@@H]2O",  # estradiol
    "O=C(O)c1cc(N=Nc2ccc(O)c(C(=O)O)c2)ccc1O",  # olsalazine
    "Brc1ccc(cc1)C(c1ccccn1)CCN(C)C",  # brompheniramine
    "C[N+](C)(C)CCOC(N)=O",  # carbachol (a permanent charge)
]

KINDS = ["selfies", "smiles", "kekule"]


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_gives_the_same_molecule(kind):
    tokenizer = fit_tokenizer(kind, MOLECULES)
    for smiles in MOLECULES:
        ids = tokenizer.encode(smiles, on_unknown="raise")
        assert ids[0] == BOS and ids[-1] == EOS and UNK not in ids
        assert chem.canonical_smiles(tokenizer.decode(ids)) == chem.canonical_smiles(smiles)


def test_smiles_round_trip_is_exact_text():
    tokenizer = SmilesTokenizer.fit(MOLECULES)
    for smiles in MOLECULES:
        assert tokenizer.decode(tokenizer.encode(smiles)) == smiles


def test_smiles_tokens_are_atoms_bonds_and_rings():
    tokens = SmilesTokenizer.tokenize("Brc1ccc(Cl)c[nH]1.[Na+]C%12")
    assert tokens == ["Br", "c", "1", "c", "c", "c", "(", "Cl", ")", "c", "[nH]", "1", ".",
                      "[Na+]", "C", "%12"]


def test_kekule_tokens_spell_aromatic_rings_in_single_and_double_bonds():
    assert KekuleSmilesTokenizer.tokenize("c1ccccc1O") == SmilesTokenizer.tokenize("OC1=CC=CC=C1")
    assert KekuleSmilesTokenizer.tokenize("Cc1cc[nH]c1") == SmilesTokenizer.tokenize(
        "CC1=CNC=C1")
    tokens = KekuleSmilesTokenizer.fit(MOLECULES).vocabulary[len(SPECIAL_TOKENS):]
    assert "=" in tokens and "C" in tokens
    # nothing aromatic is left to misspell, inside brackets or out
    assert not [t for t in tokens if any(a in t for a in ("c", "n", "o", "s")) and t != "Cl"]


def test_selfies_tokens():
    assert SelfiesTokenizer.tokenize("C=O") == ["[C]", "[=O]"]


@pytest.mark.parametrize("kind", KINDS)
def test_vocabulary_starts_with_special_tokens_and_is_deterministic(kind):
    tokenizer = fit_tokenizer(kind, MOLECULES)
    assert tuple(tokenizer.vocabulary[:4]) == SPECIAL_TOKENS
    assert (PAD, BOS, EOS, UNK) == (0, 1, 2, 3)
    assert fit_tokenizer(kind, list(reversed(MOLECULES))) == tokenizer
    assert len(tokenizer) == len(set(tokenizer.vocabulary))


@pytest.mark.parametrize("kind", KINDS)
def test_to_dict_is_plain_and_rebuilds(kind):
    tokenizer = fit_tokenizer(kind, MOLECULES)
    state = tokenizer.to_dict()
    assert state["kind"] == kind
    assert isinstance(state["vocabulary"], list)
    assert all(type(t) is str for t in state["vocabulary"])
    rebuilt = tokenizer_from_dict(state)
    assert rebuilt == tokenizer and type(rebuilt) is type(tokenizer)


def test_unknown_tokens_map_to_unk_or_raise():
    tokenizer = SmilesTokenizer.fit(["CCO", "c1ccccc1"])
    assert tokenizer.encode("CCS") == [BOS, tokenizer.vocabulary.index("C"),
                                       tokenizer.vocabulary.index("C"), UNK, EOS]
    with pytest.raises(TokenizationError, match="'S' is not in the smiles vocabulary"):
        tokenizer.encode("CCS", on_unknown="raise")


def test_min_count_drops_rare_tokens():
    tokenizer = SmilesTokenizer.fit(["CCO", "CCN", "CCBr"], min_count=2)
    assert tokenizer.vocabulary[4:] == ["C"]


@pytest.mark.parametrize(
    ("kind", "text", "reason"),
    [
        ("smiles", "CCX", "cannot tokenise 'X' at position 2"),
        ("smiles", "", "empty SMILES"),
        ("selfies", "C(C)(C)(C)(C)C", "C with 5 bond(s)"),
        ("kekule", "c1cccc1", "Can't kekulize mol"),
        ("kekule", "C(C)(C)(C)(C)C", "Explicit valence for atom # 0 C, 5"),
        ("kekule", "", "empty SMILES"),
    ],
)
def test_untokenisable_input_raises(kind, text, reason):
    with pytest.raises(TokenizationError, match=re.escape(reason)) as info:
        tokenizer_class(kind).tokenize(text)
    assert isinstance(info.value, MolgenError) and isinstance(info.value, ValueError)
    assert info.value.text == text


def test_encode_many_skips_unreadable_and_long():
    tokenizer = SmilesTokenizer.fit(MOLECULES)
    ids, kept = tokenizer.encode_many(["CCO", "CCX", "C" * 50, "CC"], max_length=10)
    assert kept == [0, 3]
    assert [len(row) for row in ids] == [5, 4]


@pytest.mark.parametrize("kind", KINDS)
def test_decode_batch_matches_one_by_one(kind):
    tokenizer = fit_tokenizer(kind, MOLECULES)
    rows = [torch.tensor(tokenizer.encode(s)) for s in MOLECULES]
    padded = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=PAD)
    # Tokens after <eos> must be ignored, whatever they are.
    junk = torch.randint(4, len(tokenizer), (len(MOLECULES), 5), generator=torch.Generator()
                         .manual_seed(0))
    with_junk = torch.cat([padded, junk], dim=1)
    assert tokenizer.decode_batch(with_junk) == [tokenizer.decode(r) for r in rows]


def test_every_selfies_token_sequence_decodes_to_a_valid_molecule():
    tokenizer = SelfiesTokenizer.fit(MOLECULES)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(4, len(tokenizer), (300, 40), generator=g)
    smiles = tokenizer.decode_batch(ids)
    assert all(chem.is_valid(s) for s in smiles)


def test_bad_vocabularies_are_refused():
    with pytest.raises(ValueError, match="must start with"):
        SmilesTokenizer(["C", "O"])
    with pytest.raises(ValueError, match="repeats tokens"):
        SmilesTokenizer([*SPECIAL_TOKENS, "C", "C"])
    with pytest.raises(ValueError, match="unknown tokenizer 'bpe'"):
        tokenizer_from_dict({"kind": "bpe", "vocabulary": list(SPECIAL_TOKENS)})
    with pytest.raises(ValueError, match="empty corpus"):
        SmilesTokenizer.fit([])
    with pytest.raises(ValueError, match="token ids must lie"):
        SmilesTokenizer.fit(["CC"]).decode_batch(torch.tensor([[99]]))

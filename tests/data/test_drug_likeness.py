"""The drug-like flag: what no chemist would call a drug-like hit, and why."""

from __future__ import annotations

from collections import Counter

import pytest
from rdkit import Chem

from repurpose.data.drug_likeness import _largest_fragment, drug_like_issue, is_drug_like
from tests.helpers import REPO_ROOT

GEFITINIB = "COc1cc2ncnc(Nc3ccc(F)c(Cl)c3)c2cc1OCCCN1CCOCC1"
HALOPERIDOL = "O=C(CCCN1CCC(O)(c2ccc(Cl)cc2)CC1)c1ccc(F)cc1"


@pytest.mark.parametrize(
    ("smiles", "issue"),
    [
        ("CCO", "3 heavy atoms"),  # ethanol, ranked near DRD2's top once
        ("[Na+].[Cl-]", "no carbon (inorganic)"),
        ("O=[As](O)(O)O", "no carbon (inorganic)"),
        ("Nc1ccc(cc1)[As](O)(O)=O", "contains As"),  # arsanilic acid: among EGFR's best hits once
        ("N.N.Cl[Pt]Cl", "no carbon (inorganic)"),  # cisplatin: its largest fragment is Cl[Pt]Cl
        ("CCCC[Sn](CCCC)(CCCC)c1ccccc1", "contains Sn"),
        ("C", "1 heavy atom"),
        ("CC[O-].[Na+]", "3 heavy atoms"),  # a salt is judged by its parent
        ("[2H]C([2H])([2H])O", "2 heavy atoms"),  # deuterium is no heavy atom
    ],
)
def test_what_is_not_a_drug_like_hit_says_why(smiles: str, issue: str) -> None:
    assert drug_like_issue(smiles) == issue
    assert not is_drug_like(smiles)


@pytest.mark.parametrize(
    "smiles",
    [
        GEFITINIB,
        HALOPERIDOL,
        "CC(=O)Oc1ccccc1C(=O)[O-].[Na+]",  # a sodium salt: the counter-ion is not the drug
        "C[C@]1(Cn2ccnn2)[C@H](C(=O)O[Na])N2C(=O)C[C@H]2S1(=O)=O",  # tazobactam sodium, written bonded
        "CC(C)C[C@H](NC(=O)[C@H](Cc1ccccc1)NC(=O)c1cnccn1)B(O)O",  # bortezomib: boron is organic here
        "c1ccccc1",  # 6 heavy atoms: the smallest that passes
        "O=C1c2ccccc2[se]n1-c1ccccc1",  # ebselen, an aromatic selenium
    ],
)
def test_drugs_are_drug_like(smiles: str) -> None:
    assert drug_like_issue(smiles) is None


def test_the_atoms_read_from_smiles_are_rdkits() -> None:
    """The SMILES reading (no RDKit molecule, for speed) agrees with RDKit's on library compounds."""
    _, *rows = (REPO_ROOT / "data" / "library" / "compounds.csv").read_text().splitlines()
    checked = 0
    for row in rows[::10]:
        smiles = row.split(",")[1]
        mol = Chem.MolFromSmiles(smiles, sanitize=False)
        if mol is None:
            continue
        fragments = []
        for atoms in Chem.GetMolFrags(mol, asMols=False):
            counts = Counter(mol.GetAtomWithIdx(i).GetSymbol() for i in atoms)
            counts.pop("*", None)
            fragments.append(((sum(n for e, n in counts.items() if e != "H"), counts.get("C", 0)), counts))
        expected = max(fragments, key=lambda item: item[0])[1]
        assert +_largest_fragment(smiles) == +expected, smiles
        checked += 1
    assert checked > 1_000

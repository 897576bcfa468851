"""Whether a compound is a drug-like hit: the flag every screening hit and profile carries.

A screen ranks whatever its library holds, and a model can rank ethanol or an arsenic acid
among a target's best hits. This flags the compounds no medicinal chemist would call a
drug-like hit. The rule judges the compound's largest fragment (the parent: counter-ions and
solvents written after a ``.`` are not the drug), and the compound is *not* drug-like when that
fragment

- has no carbon (inorganic: ``[Na+].[Cl-]``, ``O=[As](O)(O)O``),
- holds an element outside C, H, N, O, S, P, F, Cl, Br, I, B, Si, Se (metals, metalloids such
  as arsenic or platinum: cisplatin and arsenic trioxide are drugs, but not hits a screen
  should put forward); the salt formers Li, Na, K, Mg and Ca are let through (libraries write
  a sodium salt bonded too, ``C(=O)O[Na]``), or
- has fewer than ``MIN_HEAVY_ATOMS`` (6) heavy atoms (solvents and fragments: ``CCO``, ``CC(N)=O``).

A flag, not a verdict: screens keep every score with it, and filter their hits on it only when
asked (``drug_like_only``). It reads the SMILES' atoms by the OpenSMILES grammar (bracket atoms
and the organic subset, fragments split at ``.``) instead of building an RDKit molecule: about
ten times faster, so every compound of a screen gets it for a fraction of what scoring costs.
A SMILES that RDKit would refuse is judged on its atoms all the same; the screen reports it as
failed anyway.
"""

from __future__ import annotations

import re
from collections import Counter

MIN_HEAVY_ATOMS = 6
ORGANIC_ELEMENTS = frozenset({"C", "H", "N", "O", "S", "P", "F", "Cl", "Br", "I", "B", "Si", "Se"})
SALT_FORMERS = frozenset({"Li", "Na", "K", "Mg", "Ca"})
_ALLOWED = ORGANIC_ELEMENTS | SALT_FORMERS

# A bracket atom ([13CH3+], [nH], [Pt+2], [se]: its element follows an optional isotope) or an
# atom of the organic subset (Br and Cl before B and C; lower case: aromatic). '*' is no atom.
_ATOM = re.compile(r"\[\d*([A-Z][a-z]?|[a-z]{1,2}|\*)[^\]]*\]|(Br|Cl|[BCNOPSFI]|[bcnops])")


def drug_like_issue(smiles: str) -> str | None:
    """Why the compound is not a drug-like hit (``"no carbon (inorganic)"``, ``"contains As"``,
    ``"3 heavy atoms"``), or None when it is."""
    parent = _largest_fragment(smiles)
    if not parent.get("C"):
        return "no carbon (inorganic)"
    others = sorted(e for e in parent if e not in _ALLOWED)
    if others:
        return f"contains {', '.join(others)}"
    heavy = sum(n for element, n in parent.items() if element != "H")
    if heavy < MIN_HEAVY_ATOMS:
        return f"{heavy} heavy atom{'s' if heavy != 1 else ''}"
    return None


def is_drug_like(smiles: str) -> bool:
    return drug_like_issue(smiles) is None


def _largest_fragment(smiles: str) -> Counter[str]:
    """The element counts of the fragment with the most heavy atoms (ties: the most carbons)."""
    best: Counter[str] = Counter()
    best_key = (-1, -1)
    for fragment in smiles.split("."):
        counts: Counter[str] = Counter()
        for bracket, plain in _ATOM.findall(fragment):
            element = (bracket or plain).capitalize()  # aromatic 'c', 'se' -> 'C', 'Se'
            if element != "*":
                counts[element] += 1
        key = (sum(n for e, n in counts.items() if e != "H"), counts.get("C", 0))
        if key > best_key:
            best, best_key = counts, key
    return best

"""Stan-safe names for the user's identifiers.

Users write Greek letters, dotted R column names and words Stan reserves; Stan needs ASCII
identifiers that collide neither with its keywords nor with the names the compiler generates
(N, N_id, log_lik, ...). The user's spelling is kept everywhere else.
"""

from __future__ import annotations

import re
import unicodedata

_GREEK = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta",
    "η": "eta", "θ": "theta", "ι": "iota", "κ": "kappa", "λ": "lambda", "μ": "mu", "ν": "nu",
    "ξ": "xi", "ο": "omicron", "π": "pi", "ρ": "rho", "σ": "sigma", "ς": "sigma", "τ": "tau",
    "υ": "upsilon", "φ": "phi", "χ": "chi", "ψ": "psi", "ω": "omega",
    "Α": "Alpha", "Β": "Beta", "Γ": "Gamma", "Δ": "Delta", "Ε": "Epsilon", "Ζ": "Zeta",
    "Η": "Eta", "Θ": "Theta", "Ι": "Iota", "Κ": "Kappa", "Λ": "Lambda", "Μ": "Mu", "Ν": "Nu",
    "Ξ": "Xi", "Ο": "Omicron", "Π": "Pi", "Ρ": "Rho", "Σ": "Sigma", "Τ": "Tau", "Υ": "Upsilon",
    "Φ": "Phi", "Χ": "Chi", "Ψ": "Psi", "Ω": "Omega",
}  # fmt: skip

_COMBINING = {"\u0304": "_bar", "\u0305": "_bar", "\u0302": "_hat", "\u0303": "_tilde"}

# Stan's reserved words and type names, plus words that would read as Stan functions in our
# own generated code.
_RESERVED = set(
    """
    for in while repeat until if then else true false target functions model data parameters
    quantities transformed generated profile return break continue print reject fatal_error
    int real complex vector row_vector matrix simplex ordered positive_ordered cholesky_factor_corr
    cholesky_factor_cov corr_matrix cov_matrix unit_vector sum_to_zero_vector array tuple void
    lower upper offset multiplier struct typedef export auto extern var static lp__ e pi
    """.split()
)


def stan_safe(name: str) -> str:
    """An ASCII Stan identifier that reads like `name` (α -> alpha, ᾱ -> alpha_bar, id.f -> id_f)."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", name):
        if ch in _GREEK:
            if out and out[-1] not in ("_",) and out[-1][-1:].isalnum() and len(out[-1]) > 1:
                out.append("_")
            out.append(_GREEK[ch])
        elif ch in _COMBINING:
            out.append(_COMBINING[ch])
        elif ch.isascii() and (ch.isalnum() or ch == "_"):
            out.append(ch)
        elif unicodedata.category(ch).startswith("M"):
            continue
        else:
            out.append("_")
    text = re.sub(r"_+", "_", "".join(out)).strip("_") or "x"
    if text[0].isdigit():
        text = "v" + text
    if text.endswith("__"):
        text = text.rstrip("_")
    if text in _RESERVED:
        text += "_"
    return text


def latin_lookalike(name: str) -> str:
    """Each Greek letter as the Latin letter one types for it (σ_α -> s_a, μ -> m), for
    "did you mean": `σ_a` for `σ_α` is then the near miss it is."""
    return "".join(_GREEK[ch][0] if ch in _GREEK else ch for ch in unicodedata.normalize("NFC", name))


class NameTable:
    """Hands out unique Stan names: generated names are reserved first, user names get theirs."""

    def __init__(self) -> None:
        self._taken: set[str] = set()
        self._by_user: dict[str, str] = {}

    def reserve(self, stan_name: str) -> str:
        self._taken.add(stan_name)
        return stan_name

    def user(self, name: str) -> str:
        if name in self._by_user:
            return self._by_user[name]
        base = stan_safe(name)
        candidate, k = base, 1
        while candidate in self._taken:
            k += 1
            candidate = f"{base}_{k}"
        self._taken.add(candidate)
        self._by_user[name] = candidate
        return candidate

    def fresh(self, base: str) -> str:
        candidate, k = base, 1
        while candidate in self._taken:
            k += 1
            candidate = f"{base}_{k}"
        self._taken.add(candidate)
        return candidate

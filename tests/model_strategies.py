"""Hypothesis strategies for random *valid* .mlm models over the grammar: every outcome family,
links written on the left or inline, scalar-only models, slopes, varying effects by one or two
(crossed) groupings, nested groupings, group-level predictors, correlated effects, per-level
fixed effects, derived quantities at row and group level, shared priors, two likelihoods on one
linked quantity, and literals of every spelling. Used by tests/test_property_stanc.py."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

# A literal for a location, a positive number, and a scale, spelled in the ways people write them.
LOCS = st.sampled_from(["0", "1", "-1", "0.5", "-2.5", "150", "1e-3", ".5", "2.", "3000000000", "-3000000000"])
POSITIVES = st.sampled_from(["1", "2", "0.5", "10", "1e2", "3000000000", ".25"])


@dataclass
class _Model:
    statements: list[str] = field(default_factory=list)
    priors: list[str] = field(default_factory=list)

    def text(self, comments: bool) -> str:
        lines = self.statements + self.priors
        if comments:
            lines = ["# generated model", *lines]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _Family:
    name: str
    link: str  # the canonical link of its mean
    inverse: str | None  # the inverse link as an .mlm function, for the inline form
    template: str  # the likelihood with {m} for the mean and {y} for the outcome
    extras: tuple[str, ...] = ()  # priors of its other parameters
    scalar_prior: str = "Normal(0, 1)"  # the prior of a scalar mean


FAMILIES = [
    _Family("Normal", "identity", None, "{y}[i] ~ Normal({m}, sigma)", ("sigma ~ Exponential(1)",)),
    _Family("StudentT", "identity", None, "{y}[i] ~ StudentT(nu, {m}, sigma)",
            ("nu ~ Gamma(2, 0.1)", "sigma ~ HalfNormal(1)")),
    _Family("Cauchy", "identity", None, "{y}[i] ~ Cauchy({m}, sigma)", ("sigma ~ HalfCauchy(1)",)),
    _Family("Logistic", "identity", None, "{y}[i] ~ Logistic({m}, sigma)", ("sigma ~ Exponential(1)",)),
    _Family("LogNormal", "identity", None, "{y}[i] ~ LogNormal({m}, sigma)", ("sigma ~ Exponential(1)",)),
    _Family("Bernoulli", "logit", "inv_logit", "{y}[i] ~ Bernoulli({m})", (), "Beta(1, 1)"),
    _Family("Binomial", "logit", "inv_logit", "{y}[i] ~ Binomial(trials[i], {m})", (), "Beta(2, 2)"),
    _Family("Poisson", "log", "exp", "{y}[i] ~ Poisson({m})", (), "Exponential(1)"),
    _Family("NegBinomial", "log", "exp", "{y}[i] ~ NegBinomial({m}, phi)", ("phi ~ Exponential(1)",),
            "Exponential(1)"),
    _Family("Gamma", "log", "exp", "{y}[i] ~ Gamma(shape, {m})", ("shape ~ Exponential(1)",), "Exponential(1)"),
    _Family("Exponential", "log", "exp", "{y}[i] ~ Exponential({m})", (), "Exponential(1)"),
    _Family("Probit", "probit", "Phi", "{y}[i] ~ Bernoulli({m})", (), "Beta(1, 1)"),
    _Family("Cloglog", "cloglog", "inv_cloglog", "{y}[i] ~ Binomial(trials[i], {m})", (), "Beta(1, 1)"),
    _Family("OrderedLogistic", "identity", None, "{y}[i] ~ OrderedLogistic({m}, cutpoints)",
            ("cutpoints ~ Normal(0, 1.5)",)),
]  # fmt: skip


@st.composite
def _hier_prior(draw, name: str, letter: str, scale: str, model: _Model, mean: str | None = None) -> str:
    """`name[letter] ~ Normal(mean, scale)`, sometimes @centered, with the scale's prior."""
    family = draw(st.sampled_from(["Normal", "Normal", "Normal", "StudentT"]))
    mean = mean if mean is not None else draw(st.sampled_from(["0", f"{name}bar"]))
    if mean == f"{name}bar":
        model.priors.append(f"{name}bar ~ Normal({draw(LOCS)}, {draw(POSITIVES)})")
    model.priors.append(f"{scale} ~ {draw(st.sampled_from(['Exponential(1)', 'HalfNormal(1)', 'HalfStudentT(3, 1)']))}")
    annotation = draw(st.sampled_from(["", "", "", " @centered", " @noncentered"]))
    if family == "StudentT":
        return f"{name}[{letter}] ~ StudentT(3, {mean}, {scale}){annotation}"
    return f"{name}[{letter}] ~ Normal({mean}, {scale}){annotation}"


@st.composite
def _terms(draw, model: _Model) -> list[str]:
    """The terms of a linear predictor, each with the priors it needs."""
    terms: list[str] = []
    if draw(st.booleans()):
        terms.append("a")
        model.priors.append(f"a ~ Normal({draw(LOCS)}, {draw(POSITIVES)})")
    n_slopes = draw(st.integers(0, 3))
    slopes = [f"b{k}" for k in range(1, n_slopes + 1)]
    for b in slopes:
        style = draw(st.sampled_from(["b * x", "x * b", "b * f(x)"]))
        x = f"x{b[1:]}[i]"
        terms.append({"b * x": f"{b} * {x}", "x * b": f"{x} * {b}", "b * f(x)": f"{b} * log1p(square({x}))"}[style])
    if slopes:
        shared = draw(st.sampled_from(["each", "bracket", "c"]))
        if shared == "each" or len(slopes) == 1:
            model.priors += [f"{b} ~ Normal(0, {draw(POSITIVES)})" for b in slopes]
        elif shared == "bracket":
            model.priors.append(f"[{', '.join(slopes)}] ~ Normal(0, 0.5)")
        else:
            model.priors.append(f"c({', '.join(slopes)}) ~ dnorm(0, 0.5)")
    if draw(st.booleans()):  # varying intercepts, maybe with a group-level predictor
        if draw(st.booleans()):
            model.priors.append(
                draw(_hier_prior("v", "j", "s_v", model, mean="c0 + c1 * w[j]"))
            )
            model.priors += ["c0 ~ Normal(0, 1)", "c1 ~ Normal(0, 1)"]
        else:
            model.priors.append(draw(_hier_prior("v", "j", "s_v", model)))
        if draw(st.booleans()):  # through a derived group-level quantity
            model.statements.append(f"dv[j] = {draw(st.sampled_from(['v[j] * 2', 'exp(v[j])', 'v[j] - 1']))}")
            terms.append("dv[g[i]]")
        else:
            terms.append("v[g[i]]")
    if draw(st.booleans()):  # a second, crossed grouping
        model.priors.append(draw(_hier_prior("u", "k", "s_u", model)))
        terms.append("u[h[i]]")
    if draw(st.booleans()):  # nested: classes within schools
        model.priors.append(f"n_c[j] ~ Normal(n_s[school[j]], s_c){draw(st.sampled_from(['', ' @centered']))}")
        model.priors.append(f"n_s[k] ~ Normal({draw(LOCS)}, s_s)")
        model.priors += ["s_c ~ Exponential(1)", "s_s ~ Exponential(1)"]
        terms.append("n_c[class[i]]")
    if draw(st.booleans()):  # fixed effects per level
        model.priors.append(f"f[k] ~ Normal(0, {draw(POSITIVES)})")
        terms.append("f[treatment[i]]")
    if draw(st.booleans()):  # per-level effects of an index computed from data (rethinking's treatment)
        model.statements.append("cell[i] = 1 + left[i] + 2 * partner[i]")
        model.priors.append("fc[k] ~ Normal(0, 1)")
        terms.append("fc[cell[i]]")
    if draw(st.booleans()):  # a scalar derived quantity
        model.statements.append(f"bt = {draw(st.sampled_from(['2 * bq', 'exp(bq)', 'bq / 3', '-bq']))}")
        model.priors.append("bq ~ Normal(0, 1)")
        terms.append("bt * xt[i]")
    if draw(st.booleans()):  # correlated intercepts and slopes
        means = draw(st.sampled_from(["[0, 0]", "[mbar, 0]", "c(mbar, sbar)"]))
        if "mbar" in means:
            model.priors.append("mbar ~ Normal(0, 1)")
        if "sbar" in means:
            model.priors.append("sbar ~ Normal(0, 1)")
        centered = draw(st.sampled_from(["", " @centered"]))
        model.priors += [f"[r1, r2][j] ~ MVNormal({means}, Rho, tau){centered}", "Rho ~ LKJcorr(2)",
                         "tau ~ Exponential(1)"]
        terms.append("r1[subject[i]] + r2[subject[i]] * days[i]")
    return terms


def _join(draw, terms: list[str]) -> str:
    text = terms[0]
    for t in terms[1:]:
        op = draw(st.sampled_from([" + ", " + ", " - "]))
        text += op + (f"({t})" if op == " - " and " + " in t else t)
    return text


@st.composite
def models(draw, comments: bool = False) -> str:
    """The text of one valid model."""
    fam = draw(st.sampled_from(FAMILIES))
    model = _Model()
    outcomes = ["y"]
    shape = draw(st.sampled_from(["scalar", "inline", "derived", "derived", "derived"]))
    if fam.name == "OrderedLogistic" and shape == "scalar":
        shape = "derived"
    if shape == "scalar":
        model.statements.append(fam.template.format(y="y", m="m"))
        model.priors.append(f"m ~ {fam.scalar_prior}")
    else:
        terms = draw(_terms(model))
        if not terms:
            terms = ["a"]
            model.priors.append("a ~ Normal(0, 1)")
        eta = _join(draw, terms)
        if draw(st.booleans()):  # an intermediate row-level quantity
            model.statements.append(f"eta[i] = {eta}")
            eta = "eta[i]"
        if shape == "inline":
            m = eta if fam.inverse is None else f"{fam.inverse}({eta})"
            model.statements.insert(0, fam.template.format(y="y", m=m))
        else:
            lhs = "mu[i]" if fam.link == "identity" else f"{fam.link}(mu[i])"
            model.statements.insert(0, fam.template.format(y="y", m="mu[i]"))
            model.statements.append(f"{lhs} = {eta}")
            if fam.name in ("Bernoulli", "Binomial", "Poisson", "Normal") and draw(st.booleans()):
                # a second outcome on the same linked quantity
                model.statements.insert(1, fam.template.format(y="y2", m="mu[i]"))
                outcomes.append("y2")
    extras = list(fam.extras)
    if fam.name in ("Normal", "LogNormal", "Logistic") and draw(st.booleans()):
        # a scale per level of a grouping: a vector argument beside a scalar or vector mean
        model.statements = [line.replace(", sigma)", ", sig[hs[i]])") for line in model.statements]
        extras = ["sig[k] ~ Exponential(1)"]
    model.priors += extras
    # Priors and statements in any order: the language is declarative.
    order = draw(st.permutations(range(len(model.statements) + len(model.priors))))
    lines = model.statements + model.priors
    lines = [lines[k] for k in order]
    directive = draw(st.sampled_from(["", "", "", "@centered", "@noncentered", "@rows n"]))
    if directive == "@rows n":  # another row letter: every `[i]` of a row becomes `[n]`
        lines = [line.replace("[i]", "[n]") for line in lines]
    if directive:
        lines.insert(0, directive)
    return _Model(lines).text(comments)

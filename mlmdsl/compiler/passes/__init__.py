"""The checker as passes over one shared symbol table (`symbols.Context`), run by `check.check`.

In order: `roles` (what each name is), `domains` (what each index ranges over), `shapes`
(scalar or vector), `structures` (MVNormal, ordered outcomes, LKJcorr), `constraints` (what each
distribution accepts), then, on a model without errors, `build` (-> `ir.CheckedModel`, asking
`constraints.bounds` and `noncentering.choose` per parameter) and `lints` (warnings). A new
statement form touches `roles` and the passes its checks concern; a new family, mostly
`families.py` and, if its arguments have a fixed structure, `structures`.
"""

"""mlmdsl: Bayesian multilevel models in lecture notation, compiled to Stan."""

__version__ = "0.1.0"

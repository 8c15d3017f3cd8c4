"""Trust II: prior predictive simulation, simulation-based calibration and K-fold CV.

prior.py simulates parameters and outcomes from the priors (no MCMC); sbc.py and kfold.py run
many fits on Dask (cluster.py); ranks.py tests SBC ranks for uniformity; plots.py draws them.
Modules are imported where used, so `import mlmdsl.calibration` stays light.
"""

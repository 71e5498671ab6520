"""Analysis over ensembles: what-if comparison, sweeps, sensitivity, calibration, explanation and event
data.
"""

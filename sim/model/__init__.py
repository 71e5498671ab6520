"""The model: a validated scenario compiled to arrays, the mesa.Model and its actors, the compiled
engine and the plain-Python reference.
"""

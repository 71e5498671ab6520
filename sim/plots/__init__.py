"""Figures drawn from results and analyses (matplotlib, no display needed)."""

"""The ensemble: blocks of replicates run in this process, in worker processes or on a Dask cluster,
and their streamed tables.
"""

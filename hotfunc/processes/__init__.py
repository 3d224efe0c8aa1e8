"""Other processes that run the code: children that follow, the import hook, workers of a cluster.

Internal; the public faces are ``hotfunc.dask`` and ``hotfunc.ray``.
"""

"""The records every layer reads: settings, text, code objects, entries, files.

Internal: nothing here is public API, and nothing here imports another layer
of hotfunc.
"""

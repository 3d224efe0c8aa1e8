"""The hot test loop behind ``pytest --hot``: the loop, its record, what a save changed.

Internal; ``hotfunc.pytest_plugin`` is its face to pytest.
"""

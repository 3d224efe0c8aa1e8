"""The engine: from "these bytes were saved" to "this is what changed".

Read, recompile, plan, apply, follow what the save reaches, report.  Internal.
"""

"""Jobs: whole commands as library calls (check, run, batch) and their progress display.

Ties the stages together; may import every stage and the sandbox, never the CLI.
"""

"""Jobs: whole commands as library calls (check, run, batch, undo, doctor, ledger repair), interrupts and progress.

Ties the stages together; may import every stage and the sandbox, never the CLI.
"""

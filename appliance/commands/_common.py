"""Exit codes shared by every command.

0 done; 1 damaged input under ``--strict`` (a truncated or corrupt capture: every session up to
the damage is still printed, and without ``--strict`` the damage is only reported on stderr,
because a capture cut short by a crash or a full disk is normal and still useful); 2 the command
could not run (bad arguments, bad settings, a file that is not a capture).
"""

EXIT_OK, EXIT_DAMAGED, EXIT_USAGE = 0, 1, 2

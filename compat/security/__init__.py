"""Safety: what may be loaded (policy), pickle scanning, remote-code trust, path checks, sandbox."""

"""Number safety: the per-number signal timeline, the risk score and its bands, quarantine."""

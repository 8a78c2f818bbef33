"""Parts of the recipient guard; the public names are re-exported by ``leakguard.recipients``."""

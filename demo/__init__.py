"""The demo: digits data in the standard formats, small-run settings for stock configs, stages and report."""

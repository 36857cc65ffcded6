"""Analysis of tickets and IMP runs: figures and summaries (used by tools/ and the demo report)."""

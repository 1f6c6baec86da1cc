"""Data formats, readers and fairseq datasets of the UNIMO plugin."""

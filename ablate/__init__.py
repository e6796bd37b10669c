"""Ablations: what each curation step buys, measured the way DataComp measures it."""

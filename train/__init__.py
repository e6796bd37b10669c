"""Contrastive training on the shards and CLIP's evaluations."""

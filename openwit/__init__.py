"""OpenWIT: build a CLIP-style image-text corpus and train on it."""

__version__ = "0.1.0"

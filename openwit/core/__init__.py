"""What every stage may import: atomic I/O, storage, job bookkeeping, the executor, HTML
helpers, the stage/status vocabulary, and `clip_model` (open_clip made cheaper to run, for the
trainer and the pipeline's embedders; it imports torch, so only where a model runs)."""

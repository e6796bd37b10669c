"""What every stage may import: atomic I/O, storage, job bookkeeping, the executor, HTML
helpers and the stage/status vocabulary."""

"""The shards job: scan → decide (filters, dedup, decontamination, score cut) → shuffle, with
the candidates table, its SQL views and the report."""

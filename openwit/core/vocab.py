"""The words every table, view and report shares for a candidate's fate.

A candidate pair's `status` is kept or dropped; a dropped pair names the `drop_stage` that
dropped it and a `drop_reason`. The crawl's pool and download statuses feed them. The
writers, the DuckDB views, the report and the tests all take these names from here.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A candidate's fate (`candidates.status`)."""

    KEPT = "kept"
    DROPPED = "dropped"


class Stage(StrEnum):
    """The stage that dropped a candidate (`candidates.drop_stage`), in pipeline order."""

    MATCH = "match"
    BALANCE = "balance"
    DOWNLOAD = "download"
    SHARDS = "shards"  # its crawl shard could not be read
    FILTER = "filter"
    DECONTAMINATE = "decontaminate"
    DEDUP = "dedup"
    SUBSAMPLE = "subsample"  # --max-samples: beyond the uniform subsample (ablations)


class Pool(StrEnum):
    """A harvested pair's status after match and balance (the crawl's `_pool` tables)."""

    NO_MATCH = "no_match"
    BALANCED_OUT = "balanced_out"
    SELECTED = "selected"
    OPTED_OUT = "opted_out"  # its page said no (the `optout` column says how); never fetched


# The one status of a fetch, a resize and a download row that succeeded; every other
# status names its failure (timeout, http_404, decode_error, …).
SUCCESS = "success"


class Reason(StrEnum):
    """Drop reasons the shards job gives itself; filters and dedup name their own."""

    CONTAMINATED = "contaminated"
    CRAWL_SHARD_UNREADABLE = "crawl_shard_unreadable"  # its Parquet table
    UNREADABLE_SHARD = "unreadable_shard"  # its tar
    MISSING_FROM_TAR = "missing_from_tar"
    DECODE_ERROR = "decode_error"
    MODEL_SCORE = "model_score"
    MAX_SAMPLES = "max_samples"

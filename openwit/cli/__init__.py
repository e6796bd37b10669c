"""`openwit`: the command line; its sub-commands mirror the make targets.

Each stage's commands live in a module of their own and import their stage inside the
command, so `openwit --help` stays instant.
"""

from __future__ import annotations

import typer

from openwit.cli import ablate, crawl, explore, plan, queries, sandbox, shards, train

app = typer.Typer(
    help="OpenWIT: build a CLIP-style image-text corpus and train on it.",
    no_args_is_help=True,
    add_completion=False,
)
for module in (sandbox, queries, crawl, shards, train, ablate, explore, plan):
    module.register(app)

"""`openwit`: the command line; its sub-commands mirror the make targets.

Each stage's commands live in their own module (`*_cli.py`) and import their stage inside the
command, so `openwit --help` stays instant.
"""

from __future__ import annotations

import typer

from openwit import crawl_cli, plan_cli, queries_cli, sandbox_cli, shards_cli, train_cli

app = typer.Typer(
    help="OpenWIT: build a CLIP-style image-text corpus and train on it.",
    no_args_is_help=True,
    add_completion=False,
)
for module in (sandbox_cli, queries_cli, crawl_cli, shards_cli, train_cli, plan_cli):
    module.register(app)

if __name__ == "__main__":
    app()

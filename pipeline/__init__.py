"""The corpus: the crawl job (pages → images) and the shards job (images → training shards),
with the sandbox web as their embedded default input and oracle."""

"""The sandbox web: a generated input (pages, images, faults) and the oracle that scores a
crawl and its shards against its ground truth."""

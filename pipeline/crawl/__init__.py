"""The crawl job: harvest → match → balance → download (fetch, resize, write), resumable."""

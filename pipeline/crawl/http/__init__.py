"""The polite, guarded HTTP client: SSRF guard, robots.txt, fetch."""

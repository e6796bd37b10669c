"""The explorer: embeddings, a search index and a web app over an OpenWIT output."""

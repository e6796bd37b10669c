"""The query list (MetaCLIP's recipe) and the matcher."""

"""Form specs: the one schema, loading from the package and CONTENT_DIR, conditions and
answer checks."""

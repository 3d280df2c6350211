"""Report pages rendered by the ML view itself (no Facets, no CDN): plain data for templates."""

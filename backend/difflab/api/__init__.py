"""HTTP API: app factory, dependencies, schemas, one module of routes per resource."""

"""HTTP adapter: the JSON API under /api/v1 (FastAPI), served by uvicorn."""

"""All Dutch user-facing text, in one place: ``labels`` (codes to Dutch words), ``alerts``
(what the crisis organisation receives) and ``console`` (the demo and reports)."""

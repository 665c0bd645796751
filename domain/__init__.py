"""The pure core: deciders (decide/evolve/initial state) for each aggregate. No I/O here."""

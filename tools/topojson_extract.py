"""Extract GeoJSON outlines for the dashboard from the shared CBS TopoJSON files.

Usage: python tools/topojson_extract.py ../shared/geo OUT.geojson VR25 GM0034 GM0050 ...

Decodes the quantized, delta-encoded arcs, stitches each ring from its arc indices (``~i`` is
arc ``i`` reversed) and keeps only the named features, rounded to 5 decimals (about 1 m), so
the package carries one region rather than the whole country.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

FILES = ("veiligheidsregio_2025.topojson", "gemeente_2025.topojson")


def decode_arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((round(x * sx + tx, 5), round(y * sy + ty, 5)))
        arcs.append(points)
    return arcs


def ring(indices: list[int], arcs: list[list[tuple[float, float]]]) -> list[list[float]]:
    points: list[list[float]] = []
    for index in indices:
        arc = arcs[~index][::-1] if index < 0 else arcs[index]
        # consecutive arcs share their joining point: keep it once
        points.extend([list(p) for p in (arc[1:] if points else arc)])
    return points


def features(path: Path, wanted: set[str]) -> list[dict[str, Any]]:
    topology = json.loads(path.read_text(encoding="utf-8"))
    arcs = decode_arcs(topology)
    found = []
    for collection in topology["objects"].values():
        for geometry in collection["geometries"]:
            props = geometry.get("properties", {})
            if props.get("statcode") not in wanted:
                continue
            if geometry["type"] == "Polygon":
                coordinates: Any = [ring(r, arcs) for r in geometry["arcs"]]
            else:
                coordinates = [[ring(r, arcs) for r in p] for p in geometry["arcs"]]
            found.append(
                {
                    "type": "Feature",
                    "id": props["statcode"],
                    "properties": {
                        "code": props["statcode"],
                        "name": props["statnaam"],
                        "kind": props["rubriek"],
                    },
                    "geometry": {"type": geometry["type"], "coordinates": coordinates},
                }
            )
    return found


def main(source: str, out: str, *codes: str) -> None:
    wanted = set(codes)
    found = [f for name in FILES for f in features(Path(source) / name, wanted)]
    missing = wanted - {f["id"] for f in found}
    if missing:
        raise SystemExit(f"not found: {sorted(missing)}")
    collection = {
        "type": "FeatureCollection",
        "source": "CBS gebiedsindelingen 2025 (gegeneraliseerd), via cartomap/nl",
        "features": found,
    }
    Path(out).write_text(json.dumps(collection, separators=(",", ":")), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:])

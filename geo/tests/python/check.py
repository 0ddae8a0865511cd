"""Answers containment and distance questions with libraries independent of varsel-geo.

Reads from standard input a first line naming the shape, then one point per line as
`lat,lon` decimal text:

- `polygon <CAP ring>`: prints 1 or 0 per point, whether shapely's `covers` holds (boundary
  included). Coordinates are read exactly as decimals and scaled to integers in 1e-7 degree,
  which doubles hold exactly, so GEOS's robust predicates decide on the very numbers
  varsel-geo decides on.
- `circle <lat>,<lon> <radius_m>`: prints the great-circle distance in metres from the centre
  to each point by geopy (`great_circle` on a sphere of radius 6371.0088 km).
"""
import sys
from decimal import Decimal

import shapely
from geopy.distance import great_circle

EARTH_RADIUS_KM = 6371.0088


def e7(text):
    value = Decimal(text) * 10_000_000
    if value != value.to_integral_value():
        raise ValueError(f"{text} has more than 7 decimals")
    return int(value)


def pair(text):
    lat, lon = text.split(",")
    return lat, lon


def polygon(ring, points):
    coords = [(e7(lon), e7(lat)) for lat, lon in map(pair, ring.split())]
    shape = shapely.Polygon(coords)
    if not shape.is_valid:
        raise ValueError(f"shapely finds the polygon invalid: {shapely.is_valid_reason(shape)}")
    xs = [e7(lon) for _, lon in points]
    ys = [e7(lat) for lat, _ in points]
    inside = shapely.covers(shape, shapely.points(xs, ys))
    return ["1" if v else "0" for v in inside]


def circle(spec, points):
    centre, _radius = spec.split()
    lat, lon = pair(centre)
    c = (float(lat), float(lon))
    return [repr(great_circle(c, (float(a), float(b)), radius=EARTH_RADIUS_KM).meters) for a, b in points]


def main():
    lines = sys.stdin.read().splitlines()
    kind, _, spec = lines[0].partition(" ")
    points = [pair(line) for line in lines[1:] if line]
    out = polygon(spec, points) if kind == "polygon" else circle(spec, points)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

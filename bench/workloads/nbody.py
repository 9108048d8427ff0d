"""CPU kernel: simulate one perturbed Sun + 4 giant planets system.

Job `index` scales the planets' initial velocities by (1 + index / 1000), so
the 16 jobs are 16 different, deterministic systems. The kernel is plain
float arithmetic (+, -, *, /, sqrt) in a fixed order, so CPython and PyPy
print the same digits.

As a cloud job: the source is this file preceded by one line
`PARAMS = {"index": 3, "steps": 100000}`; the result goes to stdout. From a
shell: `nbody.py '{"index": 3, "steps": 100000}'`. The Dask driver and the
plain baseline import `simulate` instead.
Output: one line `index energy_before energy_after` (floats as repr).
"""

import json
import math
import sys

SOLAR_MASS = 4.0 * math.pi * math.pi
DAYS_PER_YEAR = 365.24
TIME_STEP = 0.01

# Sun, Jupiter, Saturn, Uranus, Neptune: position (AU), velocity (AU/day), mass (solar masses).
BODIES = (
    ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 1.0),
    (
        (4.84143144246472090e00, -1.16032004402742839e00, -1.03622044471123109e-01),
        (1.66007664274403694e-03, 7.69901118419740425e-03, -6.90460016972063023e-05),
        9.54791938424326609e-04,
    ),
    (
        (8.34336671824457987e00, 4.12479856412430479e00, -4.03523417114321381e-01),
        (-2.76742510726862411e-03, 4.99852801234917238e-03, 2.30417297573763929e-05),
        2.85885980666130812e-04,
    ),
    (
        (1.28943695621391310e01, -1.51111514016986312e01, -2.23307578892655734e-01),
        (2.96460137564761618e-03, 2.37847173959480950e-03, -2.96589568540237556e-05),
        4.36624404335156298e-05,
    ),
    (
        (1.53796971148509165e01, -2.59193146099879641e01, 1.79258772950371181e-01),
        (2.68067772490389322e-03, 1.62824170038242295e-03, -9.51592254519715870e-05),
        5.15138902046611451e-05,
    ),
)


def _initial_state(index):
    scale = 1.0 + index / 1000.0
    positions, velocities, masses = [], [], []
    for i, (position, velocity, mass) in enumerate(BODIES):
        factor = DAYS_PER_YEAR * (scale if i > 0 else 1.0)
        positions.append(list(position))
        velocities.append([v * factor for v in velocity])
        masses.append(mass * SOLAR_MASS)
    momentum = [sum(velocities[i][k] * masses[i] for i in range(len(masses))) for k in range(3)]
    velocities[0] = [-momentum[k] / SOLAR_MASS for k in range(3)]
    return positions, velocities, masses


def _energy(positions, velocities, masses):
    energy = 0.0
    count = len(masses)
    for i in range(count):
        vx, vy, vz = velocities[i]
        energy += 0.5 * masses[i] * (vx * vx + vy * vy + vz * vz)
        for j in range(i + 1, count):
            dx = positions[i][0] - positions[j][0]
            dy = positions[i][1] - positions[j][1]
            dz = positions[i][2] - positions[j][2]
            energy -= masses[i] * masses[j] / math.sqrt(dx * dx + dy * dy + dz * dz)
    return energy


def _advance(positions, velocities, masses, steps):
    count = len(masses)
    pairs = [(i, j) for i in range(count) for j in range(i + 1, count)]
    for _ in range(steps):
        for i, j in pairs:
            pi, pj, vi, vj = positions[i], positions[j], velocities[i], velocities[j]
            dx = pi[0] - pj[0]
            dy = pi[1] - pj[1]
            dz = pi[2] - pj[2]
            distance_squared = dx * dx + dy * dy + dz * dz
            magnitude = TIME_STEP / (distance_squared * math.sqrt(distance_squared))
            mi = masses[i] * magnitude
            mj = masses[j] * magnitude
            vi[0] -= dx * mj
            vi[1] -= dy * mj
            vi[2] -= dz * mj
            vj[0] += dx * mi
            vj[1] += dy * mi
            vj[2] += dz * mi
        for i in range(count):
            p, v = positions[i], velocities[i]
            p[0] += TIME_STEP * v[0]
            p[1] += TIME_STEP * v[1]
            p[2] += TIME_STEP * v[2]


def simulate(index, steps):
    """Run system `index` for `steps` steps; return `index energy_before energy_after\\n`."""
    positions, velocities, masses = _initial_state(index)
    before = _energy(positions, velocities, masses)
    _advance(positions, velocities, masses, steps)
    after = _energy(positions, velocities, masses)
    return "%d %r %r\n" % (index, before, after)


def _params():
    given = globals().get("PARAMS")
    return given if given is not None else json.loads(sys.argv[1])


if __name__ == "__main__":
    params = _params()
    sys.stdout.write(simulate(int(params["index"]), int(params["steps"])))

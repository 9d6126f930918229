// The compute benchmarks: pure-Python programs, each timed *inside* Python
// with time.perf_counter(), so that the native interpreter and pyvisor measure
// the same thing and neither pays for process start-up or engine boot.
//
// Every program defines `work()` (one unit of work) and `N` (how many units
// make one measurement, sized so that a measurement takes ~100-300 ms in
// native CPython). HARNESS defines `_measure(work, n, k)`: the best of k
// measurements, in milliseconds.

export interface Benchmark {
  name: string;
  /** What the benchmark exercises. */
  about: string;
  /** Python source defining `work()` and `N`. */
  source: string;
}

export const HARNESS = `
import time

def _measure(work, n, k):
    """Best of k timings of n calls to work(), in milliseconds."""
    best = float("inf")
    for _ in range(k):
        t0 = time.perf_counter()
        for _ in range(n):
            work()
        best = min(best, time.perf_counter() - t0)
    return best * 1000.0
`;

export const BENCHMARKS: Benchmark[] = [
  {
    name: "fib",
    about: "Python-to-Python calls and recursion",
    source: `
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def work():
    return fib(22)

N = 90
`,
  },
  {
    name: "classes",
    about: "instances, attribute access, methods, properties, dunders",
    source: `
class Vec:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __add__(self, other):
        return Vec(self.x + other.x, self.y + other.y)

    def scale(self, f):
        return Vec(self.x * f, self.y * f)

    @property
    def norm2(self):
        return self.x * self.x + self.y * self.y

class Particle:
    def __init__(self, i):
        self.pos = Vec(float(i), float(-i))
        self.vel = Vec(1.0, 0.5)
        self.bounces = 0

    def step(self, dt):
        self.pos = self.pos + self.vel.scale(dt)
        if self.pos.norm2 > 1e4:
            self.vel = self.vel.scale(-1.0)
            self.bounces += 1

def work():
    particles = [Particle(i) for i in range(100)]
    for _ in range(50):
        for p in particles:
            p.step(0.5)
    return sum(p.bounces for p in particles)

N = 75
`,
  },
  {
    name: "str_dict",
    about: "string formatting/splitting/joining, dict counting, sorting",
    source: `
WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu " * 100).split()

def work():
    counts = {}
    for i, w in enumerate(WORDS):
        key = f"{w}-{i % 7}"
        counts[key] = counts.get(key, 0) + 1
    lines = [k.upper().replace("-", "_") + ":" + str(counts[k]) for k in sorted(counts)]
    text = ",".join(lines)
    return len(text.split(",")) + text.count("A")

N = 750
`,
  },
  {
    name: "json",
    about: "json.dumps/loads (C accelerator) and indented dumps (pure-Python encoder)",
    source: `
import json

DOC = {"users": [{"id": i, "name": f"user{i}", "tags": ["a", "b", "c"][: i % 3 + 1],
                  "score": i * 1.5, "active": i % 2 == 0, "meta": {"x": None, "y": [i, i + 1]}}
                 for i in range(200)]}

def work():
    doc = json.loads(json.dumps(DOC))
    return len(json.dumps(doc, indent=2, sort_keys=True))

N = 200
`,
  },
  {
    name: "regex",
    about: "re: findall, finditer with groups, sub with backreferences, split",
    source: `
import re

TEXT = " ".join(f"user{i}@example{i % 13}.com called 555-{i:04d} on 2024-{i % 12 + 1:02d}-{i % 28 + 1:02d};"
                for i in range(300))
EMAIL = re.compile(r"[\\w.]+@(\\w+)\\.com")
PHONE = re.compile(r"\\b(\\d{3})-(\\d{4})\\b")
DATE = re.compile(r"(\\d{4})-(\\d{2})-(\\d{2})")

def work():
    domains = EMAIL.findall(TEXT)
    phones = sum(1 for m in PHONE.finditer(TEXT) if m.group(2) > "0100")
    swapped = DATE.sub(r"\\3/\\2/\\1", TEXT)
    return len(domains) + phones + len(re.split(r";\\s*", swapped))

N = 200
`,
  },
  {
    name: "bigint_decimal",
    about: "arbitrary-precision ints (factorial, pow, str) and decimal arithmetic",
    source: `
from decimal import Decimal, localcontext

def work():
    f = 1
    for i in range(2, 600):
        f *= i
    digits = len(str(f))
    r = pow(3, 10**40, 2**521 - 1)
    with localcontext() as ctx:
        ctx.prec = 50
        h = Decimal(0)
        for i in range(1, 400):
            h += Decimal(1) / Decimal(i)
        root = h.sqrt()
    return digits + r % 1000 + int(root)

N = 480
`,
  },
  {
    name: "generators",
    about: "generator pipelines, yield from, generator expressions, comprehensions",
    source: `
def count_up(n):
    i = 0
    while i < n:
        yield i
        i += 1

def evens(it):
    for x in it:
        if x % 2 == 0:
            yield x

def squares(it):
    yield from (x * x for x in it)

def work():
    total = sum(squares(evens(count_up(5000))))
    total += sum(x for x in range(5000) if x % 3)
    total += len([y for y in map(abs, range(-2000, 2000)) if y & 1])
    return total

N = 250
`,
  },
];

/** Measurements per steady-state figure (best of K). */
export const K = 3;

/**
 * The three runs, in order, that both engines perform on a fresh interpreter:
 * the program itself with a first, cold measurement (k=1); a warm-up (k=1);
 * then the steady-state figure (best of K). State persists between runs.
 */
export function runs(b: Benchmark): string[] {
  return [`${HARNESS}\n${b.source}\n_measure(work, N, 1)\n`, "_measure(work, N, 1)\n", `_measure(work, N, ${K})\n`];
}

/** The same three runs as one native script that prints [cold, warmup, steady] as JSON. */
export function nativeScript(b: Benchmark): string {
  return `${HARNESS}\n${b.source}\nimport json\nprint(json.dumps([_measure(work, N, 1), _measure(work, N, 1), _measure(work, N, ${K})]))\n`;
}

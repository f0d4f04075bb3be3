"""What bench_sandbox.py runs: the CPU-bound snippets, the pandas workload and its CSV."""

from __future__ import annotations

IMPORT_SNIPPET = "import pandas as pd\nprint(pd.__version__)\n"
DATA_WORKLOAD = """
import pandas as pd
df = pd.read_csv("data.csv")
groups = df.groupby("key", as_index=False).agg(total=("value", "sum"), rows=("id", "count"))
merged = df.merge(groups, on="key")
by_category = merged.groupby("category")["total"].mean()
result = (len(merged), round(float(by_category.sum()), 3))
"""

# Each sets ``result``; sized to take a few hundred ms in CPython. They live in functions, as
# real code does, so local-variable speed is what gets measured.
WORKLOADS: dict[str, str] = {
    "loop (primes+fib)": """
def count_primes(limit):
    count = 0
    for n in range(2, limit):
        is_prime = True
        d = 2
        while d * d <= n:
            if n % d == 0:
                is_prime = False
                break
            d += 1
        if is_prime:
            count += 1
    return count
def fib_iter(n):
    a, b = 0, 1
    for i in range(n):
        a, b = b, a + b
    return a
result = count_primes(100000) + fib_iter(5000) % 1000
""",
    "call": """
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
result = fib(29)
""",
    "unpacking": """
def run():
    pairs = [(i, i + 1, i + 2) for i in range(1000)]
    total = 0
    for rep in range(2000):
        for a, b, c in pairs:
            a, b = b, a
            total += a - b + c
        first, *rest = pairs[rep % 1000]
        total += first + len(rest)
    return total
result = run()
""",
    "subscript": """
def run():
    counts = {}
    grid = [[0] * 50 for row in range(50)]
    data = list(range(1000))
    for rep in range(500):
        for i in range(1000):
            k = data[i] % 37
            counts[k] = counts.get(k, 0) + 1
            grid[i % 50][k] += data[i]
            data[i] = data[i - 1] + 1
    return sum(counts.values()) + grid[3][4]
result = run()
""",
    "attribute": """
class Particle:
    def __init__(self, x, v):
        self.x = x
        self.v = v
    def step(self, dt):
        self.x += self.v * dt
        if self.x > 100 or self.x < 0:
            self.v = -self.v
def run():
    particles = [Particle(i % 100, (i % 7) - 3) for i in range(500)]
    for t in range(3000):
        for p in particles:
            p.step(0.5)
    return round(sum(p.x for p in particles), 3)
result = run()
""",
}


def timed_snippet(body: str) -> str:
    return (
        "import time\nstarted = time.perf_counter()\n"
        + body
        + "\nelapsed = time.perf_counter() - started\nprint('ELAPSED', elapsed)\nprint('RESULT', result)\n"
    )


def parse_timed(stdout: str) -> tuple[float, str]:
    values = dict(line.split(" ", 1) for line in stdout.splitlines() if " " in line)
    return float(values["ELAPSED"]), values["RESULT"]


def make_csv(rows: int) -> bytes:
    """A deterministic CSV: id, key (1000 groups), value, category (8 kinds)."""
    lines = ["id,key,value,category"]
    lines += [f"{i},{(i * 7919) % 1000},{(i % 977) / 7:.4f},c{i % 8}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()

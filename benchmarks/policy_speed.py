"""CPU-bound speed of code compiled by the restricted policy vs plain CPython ``exec``.

Runs each workload in this process, alternating policy and plain runs, and prints the best
time of each and their ratio (target: <= 1.5 on every workload). No worker processes are
involved: this measures the policy's own cost. ``python benchmarks/policy_speed.py [repeats]``
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.restricted.policy import Policy  # noqa: E402

WORKLOADS = {
    "fib+primes loop": """
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
def primes(limit):
    found = []
    for n in range(2, limit):
        for p in found:
            if p * p > n:
                found.append(n)
                break
            if n % p == 0:
                break
        else:
            found.append(n)
    return found
fib(22); primes(30000)
""",
    "method calls": """
class Counter:
    def __init__(self):
        self.count = 0
    def bump(self, step):
        self.count += step
        return self
    def value(self):
        return self.count
c = Counter()
for i in range(200000):
    c.bump(1).bump(2)
total = c.value()
""",
    "attribute-heavy class": """
class Vec:
    def __init__(self, x, y):
        self.x = x
        self.y = y
    def add(self, other):
        return Vec(self.x + other.x, self.y + other.y)
    def dot(self, other):
        return self.x * other.x + self.y * other.y
acc = Vec(0, 0)
s = 0
for i in range(100000):
    v = Vec(i, i + 1)
    acc = acc.add(v)
    s += acc.dot(v)
""",
    "private attributes": """
class Account:
    def __init__(self):
        self._balance = 0
        self._history = []
    def deposit(self, amount):
        self._balance += amount
        self._history.append(amount)
    @property
    def balance(self):
        return self._balance
a = Account()
for i in range(100000):
    a.deposit(i)
b = a.balance
""",
    "tuple unpacking": """
pairs = [(i, i * 2, i * 3) for i in range(1000)]
total = 0
for _ in range(100):
    for a, b, c in pairs:
        x, y = b, a
        total += x + y + c
""",
    "subscripts + dict counting": """
words = [str(i % 97) for i in range(2000)]
grid = [[0] * 50 for _ in range(50)]
for _ in range(30):
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    for w in words:
        counts[w] += 1
    for i in range(50):
        row = grid[i]
        for j in range(50):
            row[j] += i * j
        grid[i][1:3] = row[2:4]
""",
    "str.format + f-strings": """
out = []
for i in range(30000):
    out.append("{:>6.2f}|{}".format(i / 7, i))
    out.append(f"{i:05d} {i * 2}")
""",
}


def best_time(code: object, make_namespace: object, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        namespace = make_namespace()  # type: ignore[operator]
        start = time.perf_counter()
        exec(code, namespace)  # type: ignore[arg-type]
        best = min(best, time.perf_counter() - start)
    return best


def main(repeats: int = 7) -> int:
    policy = Policy()
    print(f"{'workload':28} {'plain ms':>9} {'policy ms':>10} {'ratio':>6}")
    worst = 0.0
    for name, source in WORKLOADS.items():
        plain_code = compile(source, "<plain>", "exec")
        policy_code = policy.compile(source)
        plain = policy_time = float("inf")
        for _ in range(repeats):  # alternate so that machine noise hits both
            plain = min(plain, best_time(plain_code, dict, 1))
            policy_time = min(policy_time, best_time(policy_code, policy.new_namespace, 1))
        ratio = policy_time / plain
        worst = max(worst, ratio)
        print(f"{name:28} {plain * 1e3:9.1f} {policy_time * 1e3:10.1f} {ratio:6.2f}")
    print(f"worst ratio: {worst:.2f} (target <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7))

#!/usr/bin/env python3
"""The synthetic task's draws, computed apart from deltarl: a plain-Python
std::mt19937_64 (checked against the C++ standard's required 10000th value) and
the generator's partial Fisher-Yates over kSyntheticSymbols
(core/tasks/synthetic_generator.cpp). tests/core/tasks/synthetic_task_test.cpp
expects what this prints for seed 0, one prompt, 3 targets:

    python3 tests/reference/synthetic_task_draws.py 0 1 3
"""
import sys

MASK = (1 << 64) - 1
SYMBOLS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class Mt19937_64:
    def __init__(self, seed):
        self.state = [seed & MASK]
        for i in range(1, 312):
            previous = self.state[-1]
            self.state.append((6364136223846793005 * (previous ^ (previous >> 62)) + i) & MASK)
        self.index = 312

    def __call__(self):
        if self.index >= 312:
            for k in range(312):
                x = (self.state[k] & 0xFFFFFFFF80000000) | (self.state[(k + 1) % 312] & 0x7FFFFFFF)
                shifted = x >> 1
                if x & 1:
                    shifted ^= 0xB5026F5AA96619E9
                self.state[k] = self.state[(k + 156) % 312] ^ shifted
            self.index = 0
        y = self.state[self.index]
        self.index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        return y & MASK


def draws(seed, count, targets_per_prompt):
    random = Mt19937_64(seed)
    problems = []
    for _ in range(count):
        order = list(range(len(SYMBOLS)))
        for i in range(targets_per_prompt):
            j = i + random() % (len(order) - i)
            order[i], order[j] = order[j], order[i]
        problems.append([SYMBOLS[k] for k in sorted(order[:targets_per_prompt])])
    return problems


if __name__ == "__main__":
    check = Mt19937_64(5489)  # the standard's default seed
    for _ in range(9999):
        check()
    assert check() == 9981545732273789042, "not the standard's mt19937_64"
    seed, count, targets = (int(arg) for arg in sys.argv[1:4])
    for problem in draws(seed, count, targets):
        print(problem)

"""Generated protocol inputs for the fuzz tests: valid frames, mutated frames, random bytes.

Seeded, so a failure names the input that caused it and reruns the same way.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator

from faceplate_client import protocol as p

_DTYPES = sorted(p.DTYPES)


def valid_frame(rng: random.Random, op: str | None = None) -> bytes:
    arrays = {}
    for i in range(rng.randint(0, 3)):
        dtype = rng.choice(_DTYPES)
        shape = tuple(rng.randint(0, 4) for _ in range(rng.randint(0, 3)))
        arrays[f"a{i}"] = p.Array(dtype, shape, rng.randbytes(p.expected_nbytes(dtype, shape)))
    params = {"n": rng.randint(-5, 5), "s": "é" * rng.randint(0, 3), "l": [1, None, True],
              "d": {"x": rng.random()}}
    return p.encode_bytes(p.Message(p.REQUEST, f"id{rng.randint(0, 99)}",
                                    op or rng.choice(["echo", "align", "nope", ""]), params,
                                    arrays))


def mutate(rng: random.Random, frame: bytes) -> bytes:
    data = bytearray(frame)
    choice = rng.randrange(6)
    if choice == 0:  # flip bytes anywhere
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif choice == 1:  # flip bytes in the fixed header
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(p.HEADER.size)] = rng.randrange(256)
    elif choice == 2:  # truncate
        del data[rng.randrange(len(data)):]
    elif choice == 3:  # insert junk
        at = rng.randrange(len(data) + 1)
        data[at:at] = rng.randbytes(rng.randint(1, 16))
    elif choice == 4:  # rewrite both length fields
        data[8:20] = struct.pack("<IQ", rng.choice([0, 1, 7, 2 ** 31, 2 ** 32 - 1,
                                                    rng.randrange(2 ** 32)]),
                                 rng.choice([0, 1, 2 ** 40, 2 ** 64 - 1, rng.randrange(4096)]))
    else:  # break the JSON only
        json_len = struct.unpack_from("<I", data, 8)[0]
        if json_len:
            data[p.HEADER.size + rng.randrange(json_len)] = rng.choice(b'{}[]",:\\\x00\xff')
    return bytes(data)


def fuzz_inputs(count: int, seed: int = 0) -> Iterator[bytes]:
    rng = random.Random(seed)
    for _ in range(count):
        kind = rng.random()
        if kind < 0.1:
            yield rng.randbytes(rng.randint(0, 64))
        elif kind < 0.2:
            yield valid_frame(rng)
        else:
            yield mutate(rng, valid_frame(rng))

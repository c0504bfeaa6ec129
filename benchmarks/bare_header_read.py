"""The floor for `wan-compat inspect`: a process that only reads the safetensors headers (and JSON
configs) of PATH, a file or a folder, with no validation and no detection."""
import json
import os
import struct
import sys


def read(path: str) -> int:
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        return len(json.loads(fh.read(n)))


target = sys.argv[1]
count = 0
if os.path.isdir(target):
    for current, _, files in os.walk(target):
        for name in sorted(files):
            full = os.path.join(current, name)
            if name.endswith(".safetensors"):
                count += read(full)
            elif name.endswith(".json"):
                with open(full, "rb") as fh:
                    json.loads(fh.read())
else:
    count = read(target)
print(count)

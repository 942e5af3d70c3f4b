"""Give a wheel another tag, and optionally files: ``retag_wheel.py WHEEL TAG [--add ROOT FILE...]``.

build.sh uses it for the project's wheel: built with mypyc on the build machine (tag
``cp311-cp311-linux_<arch>``), or built as plain Python with the extensions a fresh editable
build of the same tree already compiled added from ROOT (``--add``), it becomes
``cp311-cp311-manylinux_2_28_<arch>`` so that pip installs it into the RPM's manylinux_2_28 tree.
The RPM's glibc requirement, which tests/test_rpm.py checks, shows the extensions need no more.
The old file is replaced; the new path is printed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import zipfile


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def retag(path: str, tag: str, root: str = "", add: tuple[str, ...] = ()) -> str:
    name, version = os.path.basename(path).split("-")[:2]
    target = os.path.join(os.path.dirname(path), f"{name}-{version}-{tag}.whl")
    with zipfile.ZipFile(path) as src:
        record = next(n for n in src.namelist() if n.endswith(".dist-info/RECORD"))
        wheel_meta = record[: -len("RECORD")] + "WHEEL"
        meta = [line for line in src.read(wheel_meta).decode().splitlines()
                if not line.startswith(("Tag:", "Root-Is-Purelib:"))]
        new_meta = ("\n".join(meta + ["Root-Is-Purelib: false", f"Tag: {tag}"]) + "\n").encode()
        entries = {info.filename: (info, src.read(info)) for info in src.infolist() if info.filename != record}
    entries[wheel_meta] = (entries[wheel_meta][0], new_meta)
    for rel in add:
        with open(os.path.join(root, rel), "rb") as f:
            info = zipfile.ZipInfo(rel, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o755 << 16  # executable: rpm derives the ELF requirements from it
            entries[rel] = (info, f.read())
    tmp = target + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, data in entries.values():
            dst.writestr(info, data)
        lines = [_record_line(n, data) for n, (_, data) in entries.items()] + [f"{record},,"]
        dst.writestr(record, "\n".join(lines) + "\n")
    os.remove(path)
    os.replace(tmp, target)
    return target


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wheel")
    ap.add_argument("tag", help="python-abi-platform, e.g. cp311-cp311-manylinux_2_28_x86_64")
    ap.add_argument("--add", nargs="+", default=[], metavar=("ROOT", "FILE"),
                    help="a directory, then files under it to put at the same paths in the wheel")
    args = ap.parse_args()
    root, files = (args.add[0], tuple(args.add[1:])) if args.add else ("", ())
    print(retag(args.wheel, args.tag, root, files))

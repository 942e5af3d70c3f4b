"""Give a wheel another platform tag: ``retag_wheel.py WHEEL PLATFORM`` (the old file is replaced).

build.sh uses it for the project's wheel, built with mypyc on the build machine (tag
``linux_<arch>``), so that pip installs it into the manylinux_2_28 tree of the RPM; the RPM's
glibc requirement, which tests/test_rpm.py checks, shows the extensions need no more than that.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import zipfile


def retag(path: str, platform: str) -> str:
    base = os.path.basename(path)[: -len(".whl")]
    parts = base.split("-")
    old = parts[-1]
    parts[-1] = platform
    target = os.path.join(os.path.dirname(path), "-".join(parts) + ".whl")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        record = next(n for n in src.namelist() if n.endswith(".dist-info/RECORD"))
        wheel_meta = record[: -len("RECORD")] + "WHEEL"
        new_meta = src.read(wheel_meta).decode().replace(f"-{old}\n", f"-{platform}\n").encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(new_meta).digest()).rstrip(b"=").decode()
        lines = []
        for line in src.read(record).decode().splitlines():
            if line.startswith(wheel_meta + ","):
                line = f"{wheel_meta},sha256={digest},{len(new_meta)}"
            lines.append(line)
        for info in src.infolist():
            if info.filename == record:
                continue
            data = new_meta if info.filename == wheel_meta else src.read(info)
            dst.writestr(info, data)
        dst.writestr(record, "\n".join(lines) + "\n")
    os.remove(path)
    return target


if __name__ == "__main__":
    print(retag(sys.argv[1], sys.argv[2]))

#!/usr/bin/env python3
"""The image's runtime stage against the programs it runs, without a container engine.

    image.py BUILD_DIR [DOCKERFILE]

For every program the Dockerfile copies (build/blotter-*; the dashboard too once built), each
shared library ldd shows it loading is mapped to its Debian package (dpkg -S). A library the
program links directly (NEEDED) must come from a package the runtime stage's apt-get install
names; every other one from the dependencies of those packages (apt-cache depends, the local
package lists) or from the base image's required packages. The runtime stage must also run as
a numeric non-root user, ship the city files, and install no compiler or -dev package.
Prints what it found and exits 1 on any problem."""
import os
import pathlib
import re
import shlex
import subprocess
import sys


def run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True).stdout


def runtime_stage(dockerfile):
    """(packages named by apt-get install, the stage's instructions) of the last stage."""
    text = pathlib.Path(dockerfile).read_text()
    text = re.sub(r"\\\n", " ", text)
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    last = max(i for i, l in enumerate(lines) if l.upper().startswith("FROM "))
    stage = lines[last:]
    packages = set()
    for l in stage:
        if not l.upper().startswith("RUN "):
            continue
        for part in re.split(r"&&|;", l[4:]):
            words = shlex.split(part)
            if "apt-get" in words and "install" in words:
                after = words[words.index("install") + 1:]
                packages |= {w for w in after if not w.startswith("-")}
    return packages, stage


def twins(path):
    """PATH, its resolved path, and their /usr-merged twins: dpkg knows a file by one of them."""
    real = os.path.realpath(path)
    out = [path, real]
    for q in (path, real):
        out.append(q.replace("/usr/lib/", "/lib/", 1) if q.startswith("/usr/lib/") else q.replace("/lib/", "/usr/lib/", 1))
    return out


def packages_of(paths):
    """{path: Debian package owning it}, from one dpkg -S over every form of every path."""
    forms = {p: twins(p) for p in paths}
    owner = {}
    for line in run("dpkg", "-S", *sorted({f for fs in forms.values() for f in fs})).splitlines():
        pkg, _, file = line.partition(": ")
        owner[file.strip()] = pkg.split(":")[0].split(",")[0].strip()
    return {p: next((owner[f] for f in fs if f in owner), None) for p, fs in forms.items()}


def closure(packages):
    out = run("apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
              "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *sorted(packages))
    found = set(packages)
    for line in out.splitlines():
        line = line.strip()
        m = re.match(r"^(?:\|?(?:Pre)?Depends: )?<?([a-z0-9][a-z0-9+.-]+)(?::[a-z0-9]+)?>?$", line)
        if m:
            found.add(m.group(1))
    return found


def main(argv):
    if not argv or len(argv) > 2:
        print(__doc__, file=sys.stderr)
        return 2
    build = pathlib.Path(argv[0])
    dockerfile = argv[1] if len(argv) > 1 else "k8s/Dockerfile"
    named, stage = runtime_stage(dockerfile)
    problems = []
    if not named:
        problems.append("the runtime stage installs no package")
    base = {l.split()[0] for l in run("dpkg-query", "-W", "-f", "${Package} ${Priority}\n").splitlines()
            if l.endswith(" required")}
    base = closure(base)  # the base image: the required packages and what they depend on
    available = closure(named) | base
    programs = sorted(p for p in build.glob("blotter-*") if p.is_file() and os.access(p, os.X_OK))
    if not any(p.name == "blotter-consumer" for p in programs):
        problems.append(f"no programs in {build}: build first")
    for prog in programs:
        needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", run("readelf", "-d", str(prog))))
        libs = {}
        for line in run("ldd", str(prog)).splitlines():
            m = re.match(r"\s*(\S+)\s+=>\s+(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
            if m:
                soname, path = (m.group(1), m.group(2)) if m.re.groups == 2 else (os.path.basename(m.group(1)), m.group(1))
                libs[soname] = path
            elif "not found" in line:
                problems.append(f"{prog.name}: {line.strip()}")
        pkgs = {}
        owners = packages_of(libs.values())
        for soname, path in sorted(libs.items()):
            pkg = owners[path]
            if pkg is None:
                problems.append(f"{prog.name}: {path} belongs to no Debian package")
                continue
            pkgs[soname] = pkg
            if soname in needed and pkg not in named and pkg not in base:
                problems.append(f"{prog.name}: links {soname} from {pkg}, which the runtime stage does not install")
            elif pkg not in available:
                problems.append(f"{prog.name}: loads {soname} from {pkg}, which nothing in the runtime stage brings")
        direct = sorted({pkgs[s] for s in needed if s in pkgs})
        print(f"  {prog.name}: {len(libs)} libraries from {len(set(pkgs.values()))} packages; linked directly: {' '.join(direct)}")
    for p in sorted(named):
        if re.search(r"(-dev$|^gcc|^g\+\+|^clang|^build-essential$|^make$|^cpp)", p):
            problems.append(f"the runtime stage installs the build tool {p}")
    user = [l.split()[1] for l in stage if l.upper().startswith("USER ")]
    if not user or not re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", user[-1]):
        problems.append("the runtime stage must end as a numeric non-root USER")
    if not any(l.upper().startswith("COPY ") and "producers/cities" in l for l in stage):
        problems.append("the runtime stage does not ship producers/cities")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

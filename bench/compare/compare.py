#!/usr/bin/env python3
"""Side-by-side benchmark of issue 15: the local disk, silt, rclone (--vfs-cache-mode full)
and s3fs (-o use_cache) on the same workloads against one loopback s3s-fs server, plus
`aws s3 cp` for the time-to-bucket and cold-read references.

Run through bench/compare/run.sh, which installs what is missing and builds silt and
s3s-fs; it passes its arguments here (see --help). Needs root (drop_caches, mounts).
Standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import zlib

MIB = 1 << 20
BUCKET = "bench"
ACCESS_KEY = "silt-bench"
SECRET_KEY = "silt-bench-secret-key"
MOUNTED_SYSTEMS = ["silt", "rclone", "s3fs"]
ALL_SYSTEMS = ["local"] + MOUNTED_SYSTEMS


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Failed(Exception):
    """A workload that did not complete on one system: reported in its cell."""


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 4 and fields[4].replace("\\040", " ") == path:
                return True
    return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, env=None, check=True, capture=True, timeout=3600):
    r = subprocess.run(cmd, env=env, capture_output=capture, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise Failed(f"{' '.join(cmd[:3])}... exit {r.returncode}: {(r.stderr or '').strip()[-300:]}")
    return r


def tool_version(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        out = (r.stdout + r.stderr).strip().splitlines()
        return out[0].strip() if out else "?"
    except (OSError, subprocess.SubprocessError):
        return "not found"


# ---------------------------------------------------------------------------------------
# The server


class Server:
    """bench/compare/server (s3s-fs, a missing key answered 404) on 127.0.0.1, objects as
    plain files under root/BUCKET/."""

    def __init__(self, binary, root, log_path, count_requests):
        self.binary = binary
        self.root = root
        self.log_path = log_path
        self.count_requests = count_requests
        self.proc = None
        self.port = None

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        os.makedirs(os.path.join(self.root, BUCKET), exist_ok=True)
        self.port = free_port()
        env = dict(os.environ)
        # One "resolved route" debug line per request gives the request counts; nothing else.
        env["SILT_BENCH_LOG"] = "s3s::ops=debug" if self.count_requests else "warn"
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, str(self.port), ACCESS_KEY, SECRET_KEY, self.root],
            stdout=logf, stderr=logf, env=env, start_new_session=True)
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise SystemExit(f"the server exited at start; see {self.log_path}")
                time.sleep(0.05)
        raise SystemExit("the server did not listen within 10 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)

    def object_path(self, key):
        return os.path.join(self.root, BUCKET, key)

    def io(self):
        """Bytes the server process has read and written (sockets and files)."""
        out = {}
        with open(f"/proc/{self.proc.pid}/io") as f:
            for line in f:
                k, v = line.split(":")
                out[k] = int(v)
        return out

    def log_size(self):
        return os.path.getsize(self.log_path)

    def requests_since(self, offset):
        """Request counts by operation from the log written after `offset`."""
        if not self.count_requests:
            return {}
        counts = {}
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
        for m in re.finditer(r"resolved route.{0,200}?op[:=] ?\"?(\w+)", text, re.S):
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
        return counts


class Probe:
    """Server-side activity during one measurement: requests by operation, bytes of object
    files read and written."""

    def __init__(self, server):
        self.server = server
        self.log0 = server.log_size()
        self.io0 = server.io()

    def finish(self):
        io1 = self.server.io()
        # rchar/wchar count read()/write() calls: the server's object files (GET served,
        # PUT and parts stored, parts assembled), not its sockets (recv/send).
        return {
            "requests": self.server.requests_since(self.log0),
            "server_file_read_mib": round((io1["rchar"] - self.io0["rchar"]) / MIB, 1),
            "server_file_write_mib": round((io1["wchar"] - self.io0["wchar"]) / MIB, 1),
        }


# ---------------------------------------------------------------------------------------
# The systems


class System:
    name = "?"
    prefix = ""

    def __init__(self, work, server):
        self.work = work
        self.server = server
        self.proc = None

    def path(self, rel):
        return os.path.join(self.root, rel)

    def bucket_path(self, rel):
        return self.server.object_path(self.prefix + rel)

    def start(self):
        return 0.0

    def stop(self):
        pass


class Local(System):
    name = "local"

    def __init__(self, work, server):
        super().__init__(work, server)
        self.root = os.path.join(work, "local")
        os.makedirs(self.root, exist_ok=True)

    def options(self):
        return f"a directory on the same disk ({self.root})"


STARTED = []  # every mount started, for the teardown


class Mounted(System):
    def __init__(self, work, server, args):
        super().__init__(work, server)
        self.args = args
        self.prefix = self.name + "/"
        self.root = os.path.join(work, "mnt", self.name)
        self.cache = os.path.join(work, "cache", self.name)
        self.logfile = os.path.join(work, f"{self.name}.log")
        os.makedirs(self.root, exist_ok=True)
        os.makedirs(self.cache, exist_ok=True)

    def env(self):
        env = dict(os.environ)
        env["AWS_ACCESS_KEY_ID"] = ACCESS_KEY
        env["AWS_SECRET_ACCESS_KEY"] = SECRET_KEY
        env["AWS_REGION"] = "us-east-1"
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        # The server is plain http on loopback; rclone refuses to start with a CA bundle set.
        env.pop("AWS_CA_BUNDLE", None)
        return env

    def start(self):
        """Starts the mount in the foreground as a child; returns the seconds until the
        mount point answers."""
        if mounted(self.root):
            raise SystemExit(f"{self.root} is still mounted: unmount it first")
        t0 = time.perf_counter()
        if self not in STARTED:
            STARTED.append(self)
        with open(self.logfile, "ab") as logf:
            self.proc = subprocess.Popen(self.command(), stdout=logf, stderr=logf, env=self.env(),
                                         start_new_session=True)
        deadline = t0 + 120
        while time.perf_counter() < deadline:
            if mounted(self.root):
                try:
                    os.stat(self.root)
                    return time.perf_counter() - t0
                except OSError:
                    pass
            if self.proc.poll() is not None:
                raise Failed(f"{self.name} exited at start (code {self.proc.returncode}); see {self.logfile}")
            time.sleep(0.002)
        raise Failed(f"{self.name} did not mount within 120 s")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                log(f"{self.name}: no exit 120 s after SIGTERM; killing it")
                self.proc.kill()
                self.proc.wait(timeout=30)
        for _ in range(100):
            if not mounted(self.root):
                break
            subprocess.run(["umount", "-l", self.root], capture_output=True)
            time.sleep(0.1)
        self.proc = None

    def rss_peak_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return None


class Silt(Mounted):
    name = "silt"

    def __init__(self, work, server, args, bucket=BUCKET, prefix="silt/", memory_limit=None,
                 write_back_delay=None, root=None, cache=None):
        super().__init__(work, server, args)
        self.bucket = bucket
        self.prefix = prefix
        self.memory_limit = memory_limit or args.silt_memory_limit
        self.write_back_delay = write_back_delay or args.write_back_delay
        if root:
            self.root = root
            os.makedirs(root, exist_ok=True)
        if cache:
            self.cache = cache
            os.makedirs(cache, exist_ok=True)
        self.config = os.path.join(self.cache + ".config.yaml")
        with open(self.config, "w") as f:
            f.write(f"write_back_delay: {self.write_back_delay}\n")

    def command(self):
        return [self.args.silt, "-f", "--endpoint", self.server.endpoint, "--region", "us-east-1",
                "--config", self.config, "--cache-dir", self.cache,
                "--memory-limit", str(self.memory_limit),
                f"{self.bucket}:{self.prefix}", self.root]

    def options(self):
        return (f"`silt -f --endpoint URL --config C --cache-dir D --memory-limit {self.memory_limit} "
                f"{self.bucket}:{self.prefix} MNT`, C: `write_back_delay: {self.write_back_delay}`; "
                "everything else default (stat-cache-ttl 1s, fsync_on_close true, "
                "max_concurrent_uploads 4, 1 MiB chunks, redb index)")


class Rclone(Mounted):
    name = "rclone"

    def env(self):
        env = super().env()
        for k, v in {"TYPE": "s3", "PROVIDER": "Other", "ENV_AUTH": "false",
                     "ACCESS_KEY_ID": ACCESS_KEY, "SECRET_ACCESS_KEY": SECRET_KEY,
                     "ENDPOINT": self.server.endpoint, "REGION": "us-east-1",
                     "FORCE_PATH_STYLE": "true", "NO_CHECK_BUCKET": "true"}.items():
            env[f"RCLONE_CONFIG_BENCHS3_{k}"] = v
        return env

    def flags(self):
        return ["--vfs-cache-mode", "full", "--vfs-write-back", self.args.write_back_delay]

    def command(self):
        return ["rclone", "mount", f"benchs3:{BUCKET}/{self.name}", self.root,
                "--config", os.path.join(self.work, "rclone.conf"),
                "--cache-dir", self.cache] + self.flags()

    def options(self):
        return ("`rclone mount benchs3:bench/rclone MNT --cache-dir D "
                + " ".join(self.flags()) + "` (remote: type s3, provider Other, path style, "
                "no_check_bucket); everything else default (dir-cache-time 5m, attr-timeout 1s, "
                "vfs-read-chunk-size 128M, buffer-size 16M, transfers 4, multipart above 200 MiB "
                "in 5 MiB parts)")


class S3fs(Mounted):
    name = "s3fs"

    def opts(self):
        return ["url=" + self.server.endpoint, "use_path_request_style", "endpoint=us-east-1",
                "passwd_file=" + os.path.join(self.work, "s3fs.passwd"), "use_cache=" + self.cache]

    def command(self):
        return ["s3fs", f"{BUCKET}:/{self.name}", self.root, "-f", "-o", ",".join(self.opts())]

    def options(self):
        return ("`s3fs bench:/s3fs MNT -f -o url=URL,use_path_request_style,endpoint=us-east-1,"
                "passwd_file=P,use_cache=D`; everything else default (stat cache 900 s, "
                "multipart above 20 MiB in 10 MiB parts, 5 parallel requests, upload at "
                "flush/fsync)")


# ---------------------------------------------------------------------------------------
# Workload pieces


def pattern(tag, size):
    """Distinct, incompressible content for one file: random blocks with a tag and the MiB
    number at the start of each MiB."""
    rnd = random.Random(zlib.crc32(tag.encode()))
    base = bytearray(rnd.randbytes(MIB))
    for i in range(size // MIB):
        stamp = f"{tag}:{i:08d}:".encode()
        yield bytes(stamp) + bytes(base[len(stamp):])


def write_file(path, tag, size, fsync=True):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for block in pattern(tag, size):
            os.write(fd, block)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def read_file(path):
    buf = bytearray(MIB)
    n = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            r = f.readinto(buf)
            if not r:
                break
            n += r
    return n


def wait_for(check, timeout, interval=0.01, what="condition"):
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if check():
            return time.perf_counter()
        time.sleep(interval)
    raise Failed(f"timeout after {timeout:.0f} s waiting for {what}")


def file_has(path, size, probes):
    """The file exists with `size` bytes and holds each (offset, bytes) of `probes`."""
    try:
        st = os.stat(path)
        if st.st_size != size:
            return False
        with open(path, "rb") as f:
            for off, data in probes:
                f.seek(off)
                if f.read(len(data)) != data:
                    return False
        return True
    except OSError:
        return False


def count_files(top, size):
    n = 0
    for _, _, files in os.walk(top):
        n += len(files)
    return n


# ---------------------------------------------------------------------------------------
# The benchmark


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = os.path.abspath(args.dir)
        self.size = args.size_mib * MIB
        self.results = {}  # (row, system) -> list of seconds or Failed text
        self.extra = {}    # (row, system) -> list of server-side probes
        self.failures = {}

    # -- bookkeeping
    def record(self, row, system, value, probe=None):
        self.results.setdefault((row, system), []).append(value)
        if probe is not None:
            self.extra.setdefault((row, system), []).append(probe)
        shown = f"{value:.3f} s" if isinstance(value, float) else value
        log(f"  {row} {system}: {shown}" + (f"  {probe}" if probe else ""))

    def measure(self, row, system, fn, probe=True):
        """Runs fn() -> seconds, recording a failure instead of raising."""
        p = Probe(self.server) if probe and system != "local" else None
        try:
            secs = fn()
        except (Failed, OSError, subprocess.SubprocessError) as e:
            msg = f"failed: {e}".replace("|", "/").replace("\n", " ")[:200]
            self.failures.setdefault((row, system), msg)
            self.record(row, system, "failed")
            return None
        self.record(row, system, secs, p.finish() if p else None)
        return secs

    # -- setup
    def setup(self):
        a = self.args
        if os.path.exists(self.work):
            for sub in ["mnt"]:
                d = os.path.join(self.work, sub)
                if os.path.isdir(d):
                    for name in os.listdir(d):
                        if mounted(os.path.join(d, name)):
                            raise SystemExit(f"{os.path.join(d, name)} is mounted: unmount it first")
            shutil.rmtree(self.work)
        os.makedirs(self.work)
        self.server = Server(a.s3s_fs, os.path.join(self.work, "server"),
                             os.path.join(self.work, "s3s-fs.log"), a.count_requests)
        self.server.start()
        with open(os.path.join(self.work, "s3fs.passwd"), "w") as f:
            f.write(f"{ACCESS_KEY}:{SECRET_KEY}\n")
        os.chmod(os.path.join(self.work, "s3fs.passwd"), 0o600)
        open(os.path.join(self.work, "rclone.conf"), "w").close()
        self.aws_env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                            AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
        self.systems = {"local": Local(self.work, self.server)}
        classes = {"silt": Silt, "rclone": Rclone, "s3fs": S3fs}
        for name in a.systems:
            if name != "local":
                self.systems[name] = classes[name](self.work, self.server, a)
        self.seed()
        for name, s in self.systems.items():
            if name != "local":
                secs = s.start()
                log(f"{name} mounted in {secs:.3f} s")

    def aws(self, *argv, check=True):
        return run(["aws", "--endpoint-url", self.server.endpoint, *argv], env=self.aws_env, check=check)

    def seed(self):
        """Objects every system needs before it mounts (so no listing cache hides them): a
        256 MiB object per system and repetition for the cold read (uploaded with the S3 API,
        so the server keeps its ETag), and a folder of 10 000 small objects per system and
        repetition for ls -l (written as plain files in the server's folder: s3s-fs serves
        them as objects and computes their ETag on demand, cheap at 100 bytes)."""
        a = self.args
        src = os.path.join(self.work, "seed")
        os.makedirs(src)
        self.tree_src = os.path.join(self.work, "tree-src")
        for d in range(self.args.tree_dirs):
            os.makedirs(os.path.join(self.tree_src, f"d{d:02d}"))
            for i in range(100):
                with open(os.path.join(self.tree_src, f"d{d:02d}", f"f{i:03d}.txt"), "wb") as f:
                    f.write((f"tree file {d}/{i}\n" * 256).encode()[:4096])
        for rep in range(a.reps):
            for name in ["awscli"] + list(self.systems):
                tag = f"cold-{name}-r{rep}"
                if name == "local":
                    write_file(self.systems["local"].path(f"r{rep}-cold.bin"), tag, self.size)
                    continue
                f = os.path.join(src, "cold.bin")
                write_file(f, tag, self.size, fsync=False)
                self.aws("s3", "cp", "--only-show-errors", f, f"s3://{BUCKET}/{name}/r{rep}-cold.bin")
                os.unlink(f)
                ls_dir = self.server.object_path(f"{name}/r{rep}-ls")
                if name == "awscli":
                    continue
                os.makedirs(ls_dir)
                for i in range(a.ls_count):
                    with open(os.path.join(ls_dir, f"f{i:05d}"), "wb") as fh:
                        fh.write(b"x" * 100)
            ldir = self.systems["local"].path(f"r{rep}-ls")
            os.makedirs(ldir)
            for i in range(a.ls_count):
                with open(os.path.join(ldir, f"f{i:05d}"), "wb") as fh:
                    fh.write(b"x" * 100)
        os.sync()
        log("seeded the bucket and the local folder")

    def teardown(self):
        for s in STARTED:
            try:
                s.stop()
            except Exception as e:  # noqa: BLE001 - always go on stopping the others
                log(f"stopping {s.name} ({s.root}): {e}")
        if getattr(self, "server", None):
            self.server.stop()

    # -- the workloads of one repetition, interleaved across systems
    def order(self, rep):
        names = [n for n in self.systems if n != "local"]
        k = rep % len(names) if names else 0
        return ["local"] + names[k:] + names[:k]

    def rep(self, rep):
        a = self.args
        order = self.order(rep)
        big = f"r{rep}-seq.bin"
        tags = {n: f"seq-{n}-r{rep}" for n in order}
        blocks = {n: list(self.first_last(tags[n])) for n in order}
        log(f"repetition {rep + 1}/{a.reps}, order {order}")

        # aws s3 cp: the references of rows 2, 3, 8 and 11b
        local_big = self.systems["local"].path(big)
        write_file(local_big, tags["local"], self.size)
        os.sync()

        def aws_up():
            t0 = time.perf_counter()
            self.aws("s3", "cp", "--only-show-errors", local_big, f"s3://{BUCKET}/awscli/r{rep}-seq.bin")
            return time.perf_counter() - t0
        up = self.measure("2", "aws s3 cp", aws_up)
        if up is not None:
            self.record("8", "aws s3 cp", up)  # row 8's reference: a full upload of the file

        def aws_down():
            out = os.path.join(self.work, "aws-download.bin")
            drop_caches()
            t0 = time.perf_counter()
            self.aws("s3", "cp", "--only-show-errors", f"s3://{BUCKET}/awscli/r{rep}-cold.bin", out)
            secs = time.perf_counter() - t0
            os.unlink(out)
            return secs
        self.measure("3", "aws s3 cp", aws_down)
        os.unlink(local_big)

        for n in order:
            s = self.systems[n]
            os.sync()
            t_start = [0.0]

            def w1(s=s, n=n):
                t_start[0] = time.perf_counter()
                write_file(s.path(big), tags[n], self.size)
                return time.perf_counter() - t_start[0]
            ok = self.measure("1", n, w1)
            if n != "local":
                if ok is None:
                    self.record("2", n, "failed")
                else:
                    self.measure("2", n, lambda s=s, n=n: wait_for(
                        lambda: file_has(s.bucket_path(big), self.size, blocks[n]),
                        a.timeout, what="the file in the bucket") - t_start[0])

        for n in order:
            s = self.systems[n]

            def w3(s=s):
                drop_caches()
                t0 = time.perf_counter()
                if read_file(s.path(f"r{rep}-cold.bin")) != self.size:
                    raise Failed("short read")
                return time.perf_counter() - t0
            self.measure("3", n, w3)

        for n in order:
            s = self.systems[n]

            def w4(s=s):
                drop_caches()
                t0 = time.perf_counter()
                if read_file(s.path(big)) != self.size:
                    raise Failed("short read")
                return time.perf_counter() - t0
            self.measure("4", n, w4)

        offsets = random.Random(rep).sample(range(self.size // 4096), 2000)
        for n in order:
            s = self.systems[n]

            def w5(s=s):
                drop_caches()
                t0 = time.perf_counter()
                fd = os.open(s.path(big), os.O_RDONLY)
                try:
                    for o in offsets:
                        if len(os.pread(fd, 4096, o * 4096)) != 4096:
                            raise Failed("short read")
                finally:
                    os.close(fd)
                return time.perf_counter() - t0
            self.measure("5", n, w5)

        woffsets = random.Random(1000 + rep).sample(range(self.size // 4096), 1000)
        for n in order:
            s = self.systems[n]
            blk = (f"rand-{n}-r{rep}:".encode() * 512)[:4096]
            os.sync()
            t_start = [0.0]

            def w6(s=s, blk=blk):
                t_start[0] = time.perf_counter()
                fd = os.open(s.path(big), os.O_WRONLY)
                try:
                    for o in woffsets:
                        os.pwrite(fd, blk, o * 4096)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                return time.perf_counter() - t_start[0]
            ok = self.measure("6", n, w6)
            if n != "local" and ok is not None:
                probes = [(woffsets[0] * 4096, blk), (woffsets[-1] * 4096, blk)]
                self.measure("6b", n, lambda s=s, probes=probes: wait_for(
                    lambda: file_has(s.bucket_path(big), self.size, probes),
                    a.timeout, what="the random writes in the bucket") - t_start[0])

        for n in order:
            s = self.systems[n]
            os.sync()
            names = [f"r{rep}-small-{i:03d}.dat" for i in range(100)]
            data = (f"small-{n}-r{rep}:".encode() * 512)[:4096]

            def w7(s=s, names=names, data=data):
                t0 = time.perf_counter()
                for name in names:
                    fd = os.open(s.path(name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    try:
                        os.write(fd, data)
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                return time.perf_counter() - t0
            ok = self.measure("7", n, w7)
            if n != "local" and ok is not None:
                try:
                    wait_for(lambda s=s, names=names, data=data: all(
                        file_has(s.bucket_path(x), 4096, [(0, data)]) for x in names),
                        a.timeout, interval=0.1, what="the small files in the bucket")
                except Failed as e:
                    log(f"  7 {n}: {e}")

        for n in order[1:]:
            s = self.systems[n]
            edit = (f"edit-{n}-r{rep}:".encode() * 512)[:4096]
            off = (self.size // 2) + 8192
            os.sync()

            def w8(s=s, edit=edit, off=off):
                t0 = time.perf_counter()
                fd = os.open(s.path(big), os.O_WRONLY)
                try:
                    os.pwrite(fd, edit, off)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                return wait_for(lambda: file_has(s.bucket_path(big), self.size, [(off, edit)]),
                                a.timeout, what="the edit in the bucket") - t0
            self.measure("8", n, w8)

        for n in order:
            s = self.systems[n]
            if n != "local":
                s.stop()
                drop_caches()
                try:
                    self.measure("9a", n, s.start)
                except Failed as e:
                    self.record("9a", n, f"failed: {e}")
                    continue

            def w9(s=s):
                drop_caches()
                t0 = time.perf_counter()
                if read_file(s.path(big)) != self.size:
                    raise Failed("short read")
                return time.perf_counter() - t0
            self.measure("9b", n, w9)

        for n in order:
            s = self.systems[n]

            def w10(s=s):
                drop_caches()
                t0 = time.perf_counter()
                r = run(["ls", "-l", s.path(f"r{rep}-ls")])
                secs = time.perf_counter() - t0
                lines = r.stdout.count("\n")
                if lines != a.ls_count + 1:
                    raise Failed(f"ls -l listed {lines - 1} entries, not {a.ls_count}")
                return secs
            self.measure("10", n, w10)

        # cp -r: aws s3 cp --recursive as the time-to-bucket reference
        def aws_tree():
            t0 = time.perf_counter()
            self.aws("s3", "cp", "--recursive", "--only-show-errors", self.tree_src,
                     f"s3://{BUCKET}/awscli/r{rep}-tree")
            return time.perf_counter() - t0
        self.measure("11b", "aws s3 cp", aws_tree)
        for n in order:
            s = self.systems[n]
            dst = s.path(f"r{rep}-tree")
            read_file_tree(self.tree_src)
            os.sync()
            t_start = [0.0]

            def w11(s=s, dst=dst):
                t_start[0] = time.perf_counter()
                run(["cp", "-r", self.tree_src, dst], timeout=a.timeout)
                return time.perf_counter() - t_start[0]
            ok = self.measure("11a", n, w11)
            if n == "local":
                continue
            if ok is None:
                self.record("11b", n, "failed")
                continue
            top = s.bucket_path(f"r{rep}-tree")
            self.measure("11b", n, lambda top=top: wait_for(
                lambda: count_files(top, 4096) >= a.tree_dirs * 100, a.timeout, interval=0.1,
                what="6 400 files in the bucket") - t_start[0])

        self.cleanup_rep(rep, order)

    def first_last(self, tag):
        blocks = list(pattern(tag, self.size))
        yield (0, blocks[0][:4096])
        yield (self.size - 4096, blocks[-1][-4096:])

    def cleanup_rep(self, rep, order):
        """Removes the big files of this repetition through each system (the bucket and the
        caches stay small); failures are logged, not fatal."""
        for n in order:
            s = self.systems[n]
            for rel in [f"r{rep}-seq.bin", f"r{rep}-cold.bin"]:
                try:
                    os.unlink(s.path(rel))
                except OSError as e:
                    log(f"cleanup {n} {rel}: {e}")
        time.sleep(1)

    # -- scale rows (silt only)
    def scale(self):
        """The scale rows, silt only, on the bucket `scale` of the same server."""
        self.scale_results = {}
        root = os.path.join(self.work, "scale")
        os.makedirs(os.path.join(self.server.root, "scale"), exist_ok=True)
        if "remount" in self.args.scale_rows:
            self.scale_remount(root)
        if "rss" in self.args.scale_rows:
            self.scale_rss(root)

    def scale_remount(self, root):
        """Remount with many cached entries and many pending uploads: files written through
        the mount (100 per folder; each folder exists beforehand as a prefix, since the
        mount has no mkdir yet), uploaded; then more written under a 1 h write-back delay
        and left pending; then three timed remounts."""
        a = self.args
        n_dirs = a.scale_entries // 100
        p_dirs = a.scale_pending // 100
        bucket_dir = os.path.join(self.server.root, "scale")
        for kind, n in (("c", n_dirs), ("p", p_dirs)):
            for d in range(n):
                os.makedirs(os.path.join(bucket_dir, "entries", f"{kind}{d:04d}"), exist_ok=True)
                with open(os.path.join(bucket_dir, "entries", f"{kind}{d:04d}", ".keep"), "wb"):
                    pass
        mnt = os.path.join(root, "mnt")
        cache = os.path.join(root, "cache")
        fast = Silt(self.work, self.server, a, bucket="scale", prefix="entries/", write_back_delay="1s",
                    root=mnt, cache=cache)
        log(f"scale: writing {a.scale_entries} files through silt, each uploaded")
        fast.start()
        t0 = time.perf_counter()
        write_many(mnt, "c", n_dirs)
        log(f"scale: written in {time.perf_counter() - t0:.0f} s; waiting for the uploads")
        wait_for(lambda: count_files(os.path.join(bucket_dir, "entries"), 0) >= a.scale_entries + n_dirs + p_dirs,
                 3600, interval=2, what="the scale entries in the bucket")
        log(f"scale: uploaded after {time.perf_counter() - t0:.0f} s")
        fast.stop()
        slow = Silt(self.work, self.server, a, bucket="scale", prefix="entries/", write_back_delay="1h",
                    root=mnt, cache=cache)
        slow.start()
        write_many(mnt, "p", p_dirs)
        slow.stop()
        pending_in_bucket = count_files(os.path.join(bucket_dir, "entries"), 0) - (a.scale_entries + n_dirs + p_dirs)
        log(f"scale: {a.scale_pending} files written under a 1 h write-back delay; "
            f"{pending_in_bucket} of them reached the bucket")
        times = []
        for _ in range(3):
            drop_caches()
            times.append(slow.start())
            os.stat(os.path.join(mnt, "c0000"))
            slow.stop()
        self.scale_results["remount"] = times
        log(f"scale: remount ready in {times}")

    def scale_rss(self, root):
        """Peak RSS (VmHWM) of the silt process writing a large file in 1 MiB writes + fsync
        under --memory-limit 256 until the file is in the bucket. The default write-back
        delay (5 s): the file is uploaded once, after the write."""
        a = self.args
        bucket_dir = os.path.join(self.server.root, "scale")
        rss = Silt(self.work, self.server, a, bucket="scale", prefix="rss/", write_back_delay="5s",
                   memory_limit=256, root=os.path.join(root, "mnt-rss"), cache=os.path.join(root, "cache-rss"))
        rss.start()
        size = a.rss_gib << 30
        t0 = time.perf_counter()
        write_file(os.path.join(rss.root, "big.bin"), "rss", size)
        t_write = time.perf_counter() - t0
        log(f"scale: {a.rss_gib} GiB written in {t_write:.1f} s, peak RSS so far {rss.rss_peak_mib():.0f} MiB")
        probes = list(self.first_last_size("rss", size))
        wait_for(lambda: file_has(os.path.join(bucket_dir, "rss", "big.bin"), size, probes), a.timeout * 4,
                 interval=0.2, what="the large file in the bucket")
        t_bucket = time.perf_counter() - t0
        self.scale_results["rss_mib"] = rss.rss_peak_mib()
        self.scale_results["rss_write_s"] = t_write
        self.scale_results["rss_bucket_s"] = t_bucket
        log(f"scale: peak RSS {self.scale_results['rss_mib']:.0f} MiB; in the bucket after {t_bucket:.1f} s")
        rss.stop()
        shutil.rmtree(os.path.join(bucket_dir, "rss"), ignore_errors=True)

    def first_last_size(self, tag, size):
        first = last = None
        for i, block in enumerate(pattern(tag, size)):
            if i == 0:
                first = block
            last = block
        yield (0, first[:4096])
        yield (size - 4096, last[-4096:])


def read_file_tree(top):
    for dirpath, _, files in os.walk(top):
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                fh.read()


def write_many(mnt, kind, n_dirs):
    """100 files of 4 KiB in each folder KIND0000.. (closed: fsync_on_close makes each
    durable), from 4 threads."""
    import threading
    data = b"s" * 4096
    errors = []

    def worker(k):
        try:
            for d in range(k, n_dirs, 4):
                for i in range(100):
                    with open(os.path.join(mnt, f"{kind}{d:04d}", f"f{i:03d}"), "wb") as f:
                        f.write(data)
        except OSError as e:
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise Failed(f"writing the scale files: {errors[0]}")


# ---------------------------------------------------------------------------------------
# The table

ROWS = [
    ("1", "1. sequential write, {size} MiB in 1 MiB writes + fsync", "local"),
    ("2", "2. time until that file is complete in the bucket, from its first write", "aws s3 cp"),
    ("3", "3. cold sequential read of a {size} MiB object never read (1 MiB reads)", "local"),
    ("4", "4. cached sequential read, page cache dropped", "local"),
    ("5", "5. 2 000 random 4 KiB reads of the cached file, page cache dropped", "local"),
    ("6", "6. 1 000 random 4 KiB writes + one fsync", "local"),
    ("6b", "6b. ... until those writes are in the bucket", None),
    ("7", "7. 100 small files (4 KiB) written + fsynced each", "local"),
    ("8", "8. 4 KiB edit of the cached {size} MiB object until the bucket holds it", "aws s3 cp"),
    ("9a", "9a. remount: start until the mount answers", None),
    ("9b", "9b. first read after the remount (the {size} MiB file, page cache dropped)", "local"),
    ("10", "10. `ls -l` of a directory of {ls} objects, never listed, page cache dropped", "local"),
    ("11a", "11a. `cp -r` of {tree} files of 4 KiB in {dirs} directories", "local"),
    ("11b", "11b. ... until all {tree} are in the bucket, from the start of cp", "aws s3 cp"),
]
AWS_REF = {"2": "aws s3 cp upload", "3": "aws s3 cp download", "8": "aws s3 cp upload",
           "11b": "aws s3 cp --recursive"}


def median(values):
    nums = [v for v in values if isinstance(v, float)]
    if not nums or len(nums) < len(values):
        return None
    return statistics.median(nums)


def render(bench, header):
    cols = ["local", "aws s3 cp", "silt", "rclone", "s3fs"]
    cols = [c for c in cols if c in bench.args.systems or c == "aws s3 cp"]
    out = [header, ""]
    out.append("| workload | " + " | ".join(cols) + " |")
    out.append("|---|" + "---:|" * len(cols))
    meds = {}
    for row, title, ref in ROWS:
        title = title.format(size=bench.args.size_mib, ls=bench.args.ls_count,
                             tree=bench.args.tree_dirs * 100, dirs=bench.args.tree_dirs)
        for c in cols:
            vals = bench.results.get((row, c))
            if vals:
                meds[(row, c)] = median(vals)
        refv = meds.get((row, ref)) if ref else None
        cells = []
        for c in cols:
            vals = bench.results.get((row, c))
            if not vals:
                cells.append("-")
                continue
            m = meds.get((row, c))
            if m is None:
                cells.append("failed" if all(v == "failed" or str(v).startswith("failed") for v in vals)
                             else f"failed {sum(1 for v in vals if not isinstance(v, float))}/{len(vals)}")
                continue
            cell = fmt_secs(m)
            if refv and c != ref:
                cell += f" ({m / refv:.2f}x)"
            cells.append(cell)
        reftxt = {"local": " (x: ratio to the local disk)", "aws s3 cp": f" (x: ratio to {AWS_REF.get(row, 'aws s3 cp')})"}.get(ref, "")
        out.append(f"| {title}{reftxt} | " + " | ".join(cells) + " |")
    r = getattr(bench, "scale_results", None) or {}
    if "remount" in r:
        t = r["remount"]
        out.append(f"| S1. silt remount with {bench.args.scale_entries} cached entries and "
                   f"{bench.args.scale_pending} pending uploads: start until the mount answers (3 runs) | | | "
                   f"{fmt_secs(statistics.median(t))} ({', '.join(fmt_secs(x) for x in t)}) | | |")
    if "rss_mib" in r:
        out.append(f"| S2. silt peak RSS writing a {bench.args.rss_gib} GiB file (1 MiB writes + fsync) "
                   f"with `--memory-limit 256`, until it is in the bucket | | | {r['rss_mib']:.0f} MiB "
                   f"(written in {r['rss_write_s']:.1f} s, in the bucket after {r['rss_bucket_s']:.1f} s) | | |")
    out.append("")
    out.append("Medians of " + str(bench.args.reps) + " repetitions. Failed cells:")
    out.append("")
    if bench.failures:
        for (row, c), msg in sorted(bench.failures.items()):
            out.append(f"- row {row}, {c}: {msg}")
    else:
        out.append("- none")
    return "\n".join(out), meds


def fmt_secs(s):
    if s >= 10:
        return f"{s:.1f} s"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 0.01:
        return f"{s * 1000:.0f} ms"
    return f"{s * 1000:.1f} ms"


def targets(bench, meds):
    def r(row, c, ref):
        a, b = meds.get((row, c)), meds.get((row, ref))
        return None if a is None or b is None else a / b

    lines = ["", "Targets (silt, ratios from this run):", ""]

    def t(name, ratio, limit):
        if ratio is None:
            lines.append(f"- {name}: not measured (failed)")
        else:
            lines.append(f"- {name}: {ratio:.2f}x, target {limit}x: {'met' if ratio <= limit else 'missed'}")
    t("write + fsync vs local", r("1", "silt", "local"), 1.3)
    t("cached read vs local", r("4", "silt", "local"), 1.3)
    t("read after remount vs local", r("9b", "silt", "local"), 1.3)
    t("4 KiB random reads vs local", r("5", "silt", "local"), 1.5)
    t("4 KiB random writes + fsync vs local", r("6", "silt", "local"), 3)
    t("100 small files + fsync vs local", r("7", "silt", "local"), 3)
    t("time to bucket vs aws s3 cp upload", r("2", "silt", "aws s3 cp"), 1.15)
    t("cold read vs aws s3 cp download", r("3", "silt", "aws s3 cp"), 1.2)
    t("4 KiB edit in the bucket vs aws s3 cp upload of the file", r("8", "silt", "aws s3 cp"), 0.2)
    ahead = []
    for row, title, _ in ROWS:
        sv = meds.get((row, "silt"))
        peers = [(c, meds.get((row, c))) for c in ("rclone", "s3fs") if (row, c) in meds]
        if sv is None:
            ahead.append(f"{row}: silt failed")
            continue
        behind = [f"{c} {fmt_secs(v)}" for c, v in peers if v is not None and v < sv]
        if behind:
            ahead.append(f"{row}: behind {', '.join(behind)} (silt {fmt_secs(sv)})")
    lines.append("- ahead of rclone and s3fs on every row: "
                 + ("met" if not ahead else "missed on " + "; ".join(ahead)))
    r = getattr(bench, "scale_results", None) or {}
    if "remount" in r:
        m = statistics.median(r["remount"])
        lines.append(f"- remount with {bench.args.scale_entries} entries and {bench.args.scale_pending} pending: "
                     f"{fmt_secs(m)}, target 0.3 s: {'met' if m < 0.3 else 'missed'}")
    if "rss_mib" in r:
        x = r["rss_mib"]
        lines.append(f"- peak RSS writing {bench.args.rss_gib} GiB under --memory-limit 256: {x:.0f} MiB, "
                     f"target 320 MiB: {'met' if x < 320 else 'missed'}")
    return "\n".join(lines)


def header(bench):
    a = bench.args
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    load = os.getloadavg()
    df = subprocess.run(["df", "-hT", bench.work], capture_output=True, text=True).stdout.splitlines()[-1].split()
    silt_rev = a.silt_rev or subprocess.run(
        ["git", "-C", os.path.dirname(os.path.abspath(__file__)), "describe", "--always", "--dirty"],
        capture_output=True, text=True).stdout.strip()
    lines = [
        f"Side-by-side benchmark, {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        f"- machine: {platform.node()}, {os.cpu_count()} CPUs ({cpu}), {mem:.0f} GiB RAM, "
        f"Linux {platform.release()}, {tool_version(['sh', '-c', '. /etc/os-release; echo $PRETTY_NAME'])}; "
        f"disk: {df[1]} on {df[0]}; load average at the start {bench.load_start}, at the end "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"- silt {tool_version([a.silt, '--version'])} (git {silt_rev}); "
        f"{tool_version(['rclone', 'version'])}; {tool_version(['s3fs', '--version'])}; "
        f"{tool_version(['aws', '--version'])}; server s3s-fs 0.14.1 (bench/compare/server: "
        f"a missing key's HEAD or GET answered 404 where s3s-fs answers 500) on 127.0.0.1 over {bench.work}/server (same disk)",
        f"- {a.reps} repetitions, systems interleaved workload by workload (the order of the mounts "
        f"rotated each repetition); {a.size_mib} MiB files; write-back delay {a.write_back_delay} "
        f"for silt and rclone; server request counting {'on' if a.count_requests else 'off'}",
    ]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    p.add_argument("--systems", default=",".join(ALL_SYSTEMS), help="comma-separated subset of local,silt,rclone,s3fs")
    p.add_argument("--size-mib", type=int, default=256, help="size of the big file (default 256)")
    p.add_argument("--ls-count", type=int, default=10000, help="objects in the listed directory (default 10000)")
    p.add_argument("--write-back-delay", default="0s", help="silt's write_back_delay and rclone's --vfs-write-back (default 0s)")
    p.add_argument("--silt-memory-limit", default="1024", help="silt --memory-limit for the workloads (default 1024)")
    p.add_argument("--scale", action="store_true", help="also the scale rows (silt: remount with many entries; peak RSS writing 4 GiB)")
    p.add_argument("--scale-only", action="store_true", help="only the scale rows")
    p.add_argument("--tree-dirs", type=int, default=64, help="directories of 100 files copied by cp -r (default 64)")
    p.add_argument("--scale-rows", default="remount,rss", help="which scale rows (default remount,rss)")
    p.add_argument("--scale-entries", type=int, default=100000)
    p.add_argument("--scale-pending", type=int, default=10000)
    p.add_argument("--rss-gib", type=int, default=4)
    p.add_argument("--no-count-requests", dest="count_requests", action="store_false",
                   help="do not log the server's requests (they are counted from its debug log)")
    p.add_argument("--timeout", type=float, default=900, help="seconds to wait for a bucket to hold a write")
    p.add_argument("--dir", default="target/bench-compare", help="work folder on the disk to measure (emptied first)")
    p.add_argument("--out", default=None, help="also write the table (markdown) and raw results (.json) here")
    p.add_argument("--silt", default="target/release/silt")
    p.add_argument("--silt-rev", default=None, help="the commit silt was built from, for the header (default: git describe)")
    p.add_argument("--server", dest="s3s_fs", default="target/bench-tools/build/release/silt-bench-server")
    a = p.parse_args()
    a.systems = [s.strip() for s in a.systems.split(",") if s.strip()]
    if "local" not in a.systems:
        a.systems.insert(0, "local")
    a.silt = os.path.abspath(a.silt)
    a.s3s_fs = os.path.abspath(a.s3s_fs)
    if os.geteuid() != 0:
        raise SystemExit("run as root (drop_caches, mounts)")
    # Started in the background by a script, SIGINT may be ignored: take SIGINT and SIGTERM
    # both as a request to stop cleanly (unmount, stop the server, print what was measured).
    def interrupted(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    if a.scale_only:
        a.scale = True
        a.reps = 0
    bench = Bench(a)
    l0 = os.getloadavg()
    bench.load_start = f"{l0[0]:.2f} {l0[1]:.2f} {l0[2]:.2f}"
    status = 0
    try:
        bench.setup()
        for rep in range(a.reps):
            bench.rep(rep)
        if a.scale:
            for name in list(bench.systems):
                if name != "local":
                    bench.systems[name].stop()
            bench.scale()
    except KeyboardInterrupt:
        log("interrupted: stopping the mounts and the server")
        status = 130
    except Failed as e:
        log(f"stopped: {e}")
        status = 1
    finally:
        bench.teardown()
    table, meds = render(bench, header(bench))
    text = table + "\n" + targets(bench, meds) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
        raw = {"results": {f"{r}|{c}": v for (r, c), v in bench.results.items()},
               "server": {f"{r}|{c}": v for (r, c), v in bench.extra.items()},
               "failures": {f"{r}|{c}": v for (r, c), v in bench.failures.items()},
               "scale": getattr(bench, "scale_results", None)}
        with open(os.path.splitext(a.out)[0] + ".json", "w") as f:
            json.dump(raw, f, indent=1)
    return status


if __name__ == "__main__":
    sys.exit(main())

//! Real tools on a real mount, over inputs built here (no network):
//!
//! - `git clone` of a local repository (nested directories, a renamed directory, a deleted
//!   file, a packed history and loose objects on top): `git status` clean and `git fsck`
//!   passing, a commit made on the mount, a second clone over the pack protocol written
//!   onto the mount, and the same checks after a remount;
//! - a source tarball of a few hundred small files with explicit modification times,
//!   extracted with `tar -x` and compared with its tree byte for byte and time for time
//!   (whole seconds), after renames, in the bucket after a flush, after a remount on the
//!   same cache and through a fresh cache;
//! - `rsync -a` into the mount twice, the second run transferring nothing, then a change,
//!   an addition and a deletion sent exactly, and nothing again after a remount.
//!
//! Needs root, /dev/fuse, git, tar and rsync (scripts/test.sh installs the tools); a
//! machine without them fails here, it does not skip.

mod support;

use silt_fuse::demo::DemoServer;
use silt_fuse::Mounted;
use silt_s3::{ObjectStore, S3Remote};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};
use support::*;

/// 2023-11-14 22:13:20 UTC: the first commit's date and the tarball's earliest mtime.
const T0: i64 = 1_700_000_000;

/// Fails (never skips) when `tool` is not installed.
fn require_tool(tool: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{tool} is missing: these tests run it on the mount; install it \
         (scripts/test.sh does: apt-get install {tool})"
    );
}

/// Runs `cmd` to its end within [`WAIT`] (killed and a panic after that), asserts that it
/// succeeded and returns its stdout; a failure shows its stdout and stderr.
fn run(cmd: &mut Command) -> String {
    let start = Instant::now();
    let Ran {
        status,
        stdout,
        stderr,
    } = run_bounded(cmd);
    assert!(
        status.success(),
        "{cmd:?} failed ({status}) after {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        start.elapsed()
    );
    stdout
}

/// A small deterministic generator (xorshift64*), so every run builds the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// About `len` bytes of source-like text naming `name`.
    fn text(&mut self, name: &str, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 64);
        let mut line = 0;
        while v.len() < len {
            let n = self.next();
            v.extend_from_slice(format!("{name}:{line}: value {n:016x}\n").as_bytes());
            line += 1;
        }
        v.truncate(len);
        v
    }

    /// `len` bytes of binary noise.
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 8);
        while v.len() < len {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(len);
        v
    }
}

/// Writes `data` at `path` (parents made), mode 0644.
fn write_file(path: &Path, data: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
    }
    fs::write(path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).expect("chmod 0644");
}

/// Gives every directory below `dir` mode 0755, the mount's directory mode (the mount
/// does not keep modes; rsync -a would otherwise see a change at every run).
fn dirs_0755(dir: &Path) {
    for (path, node) in snapshot(dir) {
        if node == Node::Dir {
            fs::set_permissions(dir.join(path), fs::Permissions::from_mode(0o755))
                .expect("chmod 0755");
        }
    }
}

/// Sets the modification (and access) time of `path` to `secs` whole seconds.
fn set_mtime(path: &Path, secs: i64) {
    let t = UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).expect("after 1970"));
    let f = fs::File::options()
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.set_times(fs::FileTimes::new().set_accessed(t).set_modified(t))
        .unwrap_or_else(|e| panic!("set times of {}: {e}", path.display()));
}

/// What a tree holds: its directories and files (bytes, mtime in whole seconds), by path
/// relative to its root. Anything else (a symlink) is a test failure.
#[derive(Debug, PartialEq)]
enum Node {
    Dir,
    File { data: Vec<u8>, mtime: i64 },
}

fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
        let entries =
            fs::read_dir(dir).unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.unwrap_or_else(|e| panic!("entry of {}: {e}", dir.display()));
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .expect("below the root")
                .to_string_lossy()
                .into_owned();
            let meta = fs::symlink_metadata(&path)
                .unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()));
            if meta.is_dir() {
                out.insert(rel, Node::Dir);
                walk(root, &path, out);
            } else if meta.is_file() {
                let data =
                    fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                assert_eq!(
                    data.len() as u64,
                    meta.len(),
                    "{}: the size stat gives and the bytes read differ",
                    path.display()
                );
                out.insert(
                    rel,
                    Node::File {
                        data,
                        mtime: meta.mtime(),
                    },
                );
            } else {
                panic!("{}: neither a file nor a directory", path.display());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Asserts that `got` holds what `want` holds: the same names, kinds and bytes, and the
/// same mtimes in whole seconds when `mtimes`. Names every difference (at most 20).
fn assert_same(
    what: &str,
    want: &BTreeMap<String, Node>,
    got: &BTreeMap<String, Node>,
    mtimes: bool,
) {
    let mut diffs = Vec::new();
    for (path, w) in want {
        match (w, got.get(path)) {
            (_, None) => diffs.push(format!("{path}: missing")),
            (Node::Dir, Some(Node::Dir)) => {}
            (Node::File { data, mtime }, Some(Node::File { data: d, mtime: m })) => {
                if data != d {
                    let at = data.iter().zip(d).position(|(a, b)| a != b);
                    diffs.push(format!(
                        "{path}: {} bytes wanted, {} there, first difference at {at:?}",
                        data.len(),
                        d.len()
                    ));
                }
                if mtimes && mtime != m {
                    diffs.push(format!("{path}: mtime {m}, wanted {mtime}"));
                }
            }
            (w, Some(g)) => {
                diffs.push(format!("{path}: a {} wanted, a {} there", kind(w), kind(g)))
            }
        }
    }
    for path in got.keys().filter(|p| !want.contains_key(*p)) {
        diffs.push(format!("{path}: not wanted"));
    }
    let shown: Vec<&String> = diffs.iter().take(20).collect();
    assert!(
        diffs.is_empty(),
        "{what}: {} differences, {} entries wanted: {shown:#?}",
        diffs.len(),
        want.len()
    );
}

/// The files of a tree, without its directories (the server's folders may outlive the
/// keys below them).
fn files(tree: &BTreeMap<String, Node>) -> BTreeMap<String, Node> {
    tree.iter()
        .filter_map(|(p, n)| match n {
            Node::File { data, mtime } => Some((
                p.clone(),
                Node::File {
                    data: data.clone(),
                    mtime: *mtime,
                },
            )),
            Node::Dir => None,
        })
        .collect()
}

fn kind(n: &Node) -> &'static str {
    match n {
        Node::Dir => "directory",
        Node::File { .. } => "file",
    }
}

/// A bucket served on loopback, a mount point, and the mounts made on it.
struct Bench {
    remote: Arc<S3Remote>,
    _server: DemoServer,
    rt: tokio::runtime::Runtime,
    buckets: PathBuf,
    mnt: PathBuf,
    root: tempfile::TempDir,
}

impl Bench {
    fn new() -> Bench {
        require_fuse();
        let rt = runtime();
        let s = Served::start(&rt);
        let remote = s.remote(&rt);
        Bench {
            remote,
            _server: s.server,
            rt,
            buckets: s.buckets,
            mnt: s.mnt,
            root: s.root,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// Mounts an engine on the cache directory `cache` (made if new).
    fn mount(&self, cache: &str) -> Mounted {
        let manager = bounded(&self.rt, "engine", engine(&self.path(cache), &self.remote));
        mount(&self.rt, manager, &self.mnt)
    }

    /// Waits until every upload of `mounted` is in the bucket.
    fn flush(&self, mounted: &Mounted) {
        let manager = mounted.manager().expect("engine");
        bounded(&self.rt, "flush", manager.flush(true)).expect("flush");
    }

    /// Unmounts `mounted`, which must stop cleanly.
    fn unmount(&self, mounted: Mounted) {
        let report = bounded(&self.rt, "unmount", mounted.unmount()).expect("unmount");
        assert!(report.clean, "{report:?}");
    }

    /// The modification time, in whole seconds, that the bucket holds for `key`.
    fn bucket_mtime(&self, key: &str) -> i64 {
        let info = bounded(&self.rt, "head", self.remote.head(key))
            .expect("head")
            .unwrap_or_else(|| panic!("{key} is not in the bucket"));
        i64::try_from(info.mtime_ms / 1000).expect("mtime")
    }
}

/// `git` run in `dir` with a configuration of its own: HOME in the test's directory (its
/// `.gitconfig` names the committer), no system configuration, no background maintenance.
fn git(home: &Path, dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_CONFIG_GLOBAL");
    c
}

/// `git commit -a` with author and committer dated `T0 + n` hours (the same hashes on
/// every run).
fn commit(home: &Path, repo: &Path, n: i64, message: &str) {
    let date = format!("@{} +0000", T0 + n * 3600);
    run(git(home, repo).args(["add", "-A"]));
    run(git(home, repo)
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .args(["commit", "-q", "-m", message]));
}

/// The working tree of `repo` without `.git`.
fn worktree(repo: &Path) -> BTreeMap<String, Node> {
    let mut t = snapshot(repo);
    t.retain(|p, _| p != ".git" && !p.starts_with(".git/"));
    t
}

/// Asserts `git status` finds the working tree of `repo` clean and `git fsck` finds its
/// objects sound.
fn assert_clean_and_sound(home: &Path, repo: &Path, when: &str) {
    let status = run(git(home, repo).args(["status", "--porcelain", "--untracked-files=all"]));
    assert!(
        status.is_empty(),
        "{when}: git status in {} is not clean:\n{status}",
        repo.display()
    );
    let fsck = run(git(home, repo).args(["fsck", "--full", "--strict", "--no-progress"]));
    assert!(
        !fsck.contains("missing") && !fsck.contains("error") && !fsck.contains("broken"),
        "{when}: git fsck in {}:\n{fsck}",
        repo.display()
    );
}

#[test]
fn git_clone_into_the_mount_is_clean_and_sound_and_takes_commits() {
    require_tool("git");
    let b = Bench::new();
    let _guard = DetachOnDrop(b.mnt.clone());
    let home = b.path("home");
    fs::create_dir_all(&home).expect("home");
    fs::write(
        home.join(".gitconfig"),
        "[user]\n\tname = Silt Test\n\temail = silt-test@example.invalid\n\
         [init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n",
    )
    .expect("gitconfig");

    // The repository: nested sources, a binary of two chunks, then a renamed directory, a
    // renamed file, a deleted file and edits; packed; then a commit of loose objects.
    let repo = b.path("origin");
    fs::create_dir_all(&repo).expect("origin");
    run(git(&home, &repo).args(["init", "-q"]));
    let mut rng = Rng(0x5eed_6171);
    write_file(
        &repo.join("README.md"),
        b"# origin\n\nA repository built by the test.\n",
    );
    for m in 0..6 {
        for f in 0..7 {
            let name = format!("src/mod{m}/file{f}.rs");
            let len = 200 + rng.below(3000) as usize;
            write_file(&repo.join(&name), &rng.text(&name, len));
        }
    }
    for c in 0..5 {
        let name = format!("docs/guide/ch{c}.md");
        write_file(&repo.join(&name), &rng.text(&name, 1500));
    }
    write_file(&repo.join("assets/blob.bin"), &rng.bytes(1_500_000));
    commit(&home, &repo, 0, "first");

    run(git(&home, &repo).args(["mv", "src/mod1", "src/renamed"]));
    run(git(&home, &repo).args(["mv", "docs/guide/ch0.md", "docs/intro.md"]));
    run(git(&home, &repo).args(["rm", "-q", "src/mod2/file3.rs"]));
    for f in ["src/mod0/file0.rs", "src/renamed/file4.rs", "docs/intro.md"] {
        let mut data = fs::read(repo.join(f)).expect("read");
        data.extend_from_slice(&rng.text(f, 400));
        write_file(&repo.join(f), &data);
    }
    write_file(&repo.join("src/mod5/deep/er/new.rs"), &rng.text("new", 900));
    commit(&home, &repo, 1, "second: renames, a deletion, edits");
    run(git(&home, &repo)
        .env("GIT_COMMITTER_DATE", format!("@{} +0000", T0 + 3600))
        .args(["tag", "-a", "v1", "-m", "version 1"]));
    run(git(&home, &repo).args(["gc", "-q"]));

    let mut blob = fs::read(repo.join("assets/blob.bin")).expect("blob");
    blob[1_200_000..1_200_100].copy_from_slice(&rng.bytes(100));
    write_file(&repo.join("assets/blob.bin"), &blob);
    write_file(&repo.join("src/mod3/file1.rs"), &rng.text("edited", 2500));
    commit(&home, &repo, 2, "third: loose objects");
    let head = run(git(&home, &repo).args(["rev-parse", "HEAD"]));

    let mounted = b.mount("cache");
    let clone = b.mnt.join("repo");
    run(git(&home, &b.mnt)
        .arg("clone")
        .arg("-q")
        .arg(&repo)
        .arg(&clone));
    assert_eq!(run(git(&home, &clone).args(["rev-parse", "HEAD"])), head);
    assert_eq!(
        run(git(&home, &clone).args(["rev-parse", "v1^{commit}"])),
        run(git(&home, &repo).args(["rev-parse", "v1^{commit}"]))
    );
    assert_same(
        "clone's working tree",
        &worktree(&repo),
        &worktree(&clone),
        false,
    );
    assert_clean_and_sound(&home, &clone, "after the clone");

    // A commit on the mount: an edit, a rename, a new nested file, a deletion.
    let edited = clone.join("src/mod4/file2.rs");
    let mut data = fs::read(&edited).expect("read on the mount");
    data.extend_from_slice(b"// edited on the mount\n");
    fs::write(&edited, &data).expect("edit on the mount");
    run(git(&home, &clone).args(["mv", "src/mod0/file1.rs", "src/mod0/moved.rs"]));
    run(git(&home, &clone).args(["rm", "-q", "docs/guide/ch1.md"]));
    write_file(&clone.join("notes/made/here.txt"), b"made on the mount\n");
    commit(&home, &clone, 3, "fourth: made on the mount");
    assert_clean_and_sound(&home, &clone, "after a commit on the mount");
    let head2 = run(git(&home, &clone).args(["rev-parse", "HEAD"]));
    assert_eq!(
        run(git(&home, &clone).args(["rev-list", "--count", "HEAD"])).trim(),
        "4"
    );

    // A clone over the pack protocol: upload-pack reads the mount, index-pack writes a
    // pack onto it.
    let clone2 = b.mnt.join("repo2");
    let url = format!("file://{}", clone.display());
    run(git(&home, &b.mnt)
        .args(["clone", "-q", "--no-local", &url])
        .arg(&clone2));
    assert_eq!(run(git(&home, &clone2).args(["rev-parse", "HEAD"])), head2);
    assert_same(
        "pack clone's working tree",
        &worktree(&clone),
        &worktree(&clone2),
        false,
    );
    assert_clean_and_sound(&home, &clone2, "after a clone over the pack protocol");

    // In the bucket after a flush; the same after a remount on the same cache.
    b.flush(&mounted);
    assert_eq!(
        fs::read(object_file(&b.buckets, "repo/.git/HEAD")).expect("HEAD in the bucket"),
        b"ref: refs/heads/main\n"
    );
    assert_eq!(
        fs::read(object_file(&b.buckets, "repo/src/mod0/moved.rs")).expect("in the bucket"),
        fs::read(repo.join("src/mod0/file1.rs")).expect("origin")
    );
    b.unmount(mounted);
    let mounted = b.mount("cache");
    assert_clean_and_sound(&home, &clone, "after a remount");
    assert_clean_and_sound(&home, &clone2, "after a remount");
    assert_eq!(run(git(&home, &clone).args(["rev-parse", "HEAD"])), head2);
    b.unmount(mounted);
}

/// The generated source tree: `FILES` small files (a few of several chunks, some empty) in
/// nested directories, every file and directory with its own whole-second mtime.
const FILES: usize = 320;

fn source_tree(dir: &Path, seed: u64) {
    let mut rng = Rng(seed);
    let tops = ["src", "include", "doc", "tests"];
    for i in 0..FILES {
        let sub = format!(
            "{}/m{}/n{}",
            tops[i % tops.len()],
            (i / 4) % 5,
            (i / 20) % 3
        );
        let name = format!("{sub}/f{i:03}.{}", ["c", "h", "txt", "rs"][i % 4]);
        let data = match i {
            7 => rng.bytes(1_300_000),
            111 => rng.bytes(2_600_000),
            _ if i % 40 == 0 => Vec::new(),
            _ => {
                let len = 1 + rng.below(6000) as usize;
                rng.text(&name, len)
            }
        };
        let path = dir.join(&name);
        write_file(&path, &data);
        set_mtime(&path, T0 + rng.below(100_000_000) as i64);
    }
    write_file(&dir.join("Makefile"), b"all:\n\t@echo built\n");
    set_mtime(&dir.join("Makefile"), T0);
}

#[test]
fn a_source_tarball_extracted_into_the_mount_matches_its_tree() {
    require_tool("tar");
    let b = Bench::new();
    let _guard = DetachOnDrop(b.mnt.clone());
    let tree = b.path("src-1.0");
    source_tree(&tree, 0x7a5_b411);
    let tarball = b.path("src-1.0.tar");
    run(Command::new("tar")
        .args(["--format=gnu", "--sort=name", "-cf"])
        .arg(&tarball)
        .arg("-C")
        .arg(b.root.path())
        .arg("src-1.0"));

    let mounted = b.mount("cache");
    let started = Instant::now();
    run(Command::new("tar")
        .arg("-xf")
        .arg(&tarball)
        .arg("-C")
        .arg(&b.mnt));
    eprintln!("tar -x of {} files: {:?}", FILES + 1, started.elapsed());
    let on_mount = b.mnt.join("src-1.0");
    assert_same("extracted", &snapshot(&tree), &snapshot(&on_mount), true);

    // Renames on both sides: a file within its directory, a file to another directory,
    // a whole directory, a file over an existing one. Times go with the files.
    for (from, to) in [
        ("src/m0/n0/f000.c", "src/m0/n0/renamed.c"),
        ("doc/m2/n1/f030.txt", "include/m1/moved.txt"),
        ("tests/m3", "tests/m3-renamed"),
        ("src/m1/n0/f004.c", "src/m1/n0/f024.c"),
    ] {
        for side in [&tree, &on_mount] {
            run(Command::new("mv").arg(side.join(from)).arg(side.join(to)));
        }
    }
    let want = snapshot(&tree);
    assert_same("after renames", &want, &snapshot(&on_mount), true);

    // The bucket holds every file, byte for byte, with its time in x-amz-meta-mtime.
    b.flush(&mounted);
    let in_bucket = snapshot(&object_file(&b.buckets, "src-1.0"));
    assert_same("in the bucket", &files(&want), &files(&in_bucket), false);
    let mut wrong = Vec::new();
    for (path, node) in &want {
        if let Node::File { mtime, .. } = node {
            let key = format!("src-1.0/{path}");
            let there = b.bucket_mtime(&key);
            if there != *mtime {
                wrong.push(format!("{key}: {there}, wanted {mtime}"));
            }
        }
    }
    assert!(wrong.is_empty(), "mtimes in the bucket: {wrong:#?}");
    b.unmount(mounted);

    // After a remount on the same cache, and through a fresh cache (all from the bucket).
    let mounted = b.mount("cache");
    assert_same("after a remount", &want, &snapshot(&on_mount), true);
    b.unmount(mounted);
    // A fresh cache holds nothing: each file's time comes from the bucket (a HEAD), asked
    // for by path before any listing. A listing gives the server's upload times instead
    // (ListObjectsV2 carries no user metadata), which a stat then answers for the core's
    // stat_ttl: see docs/mount.md, "Real tools".
    let mounted = b.mount("fresh-cache");
    let mut wrong = Vec::new();
    for (path, node) in &want {
        if let Node::File { mtime, .. } = node {
            let there = fs::metadata(on_mount.join(path))
                .unwrap_or_else(|e| panic!("stat {path} through a fresh cache: {e}"))
                .mtime();
            if there != *mtime {
                wrong.push(format!("{path}: {there}, wanted {mtime}"));
            }
        }
    }
    assert!(wrong.is_empty(), "mtimes through a fresh cache: {wrong:#?}");
    assert_same("through a fresh cache", &want, &snapshot(&on_mount), false);
    b.unmount(mounted);
}

/// `rsync -a --itemize-changes SRC/ DST/`, with `extra` arguments; returns what it
/// itemized (one line per change), without the lines of directories whose time alone
/// differs: the mount does not keep directories' times, so `rsync -a` sets them again at
/// every run (`.d..t......`); the run with `--omit-dir-times` checks that nothing else is
/// behind them.
fn rsync(src: &Path, dst: &Path, extra: &[&str]) -> Vec<String> {
    let out = run(Command::new("rsync")
        .args(["-a", "--itemize-changes"])
        .args(extra)
        .arg(format!("{}/", src.display()))
        .arg(format!("{}/", dst.display())));
    out.lines()
        .filter(|l| !l.starts_with(".d..t...... "))
        .map(str::to_string)
        .collect()
}

#[test]
fn rsync_into_the_mount_twice_copies_nothing_the_second_time() {
    require_tool("rsync");
    let b = Bench::new();
    let _guard = DetachOnDrop(b.mnt.clone());
    let src = b.path("src");
    let mut rng = Rng(0x25_1c);
    for i in 0..200usize {
        let name = format!("d{}/e{}/file{i:03}.dat", i % 5, (i / 5) % 4);
        let len = match i {
            13 => 2_200_000,
            _ => rng.below(9000) as usize,
        };
        write_file(&src.join(&name), &rng.bytes(len));
        // Half keep the time they were written at (with nanoseconds), half get one.
        if i % 2 == 0 {
            set_mtime(&src.join(&name), T0 + rng.below(50_000_000) as i64);
        }
    }
    dirs_0755(&src);
    let want = snapshot(&src);
    let dst = b.mnt.join("dst");

    let mounted = b.mount("cache");
    let started = Instant::now();
    let first = rsync(&src, &dst, &[]);
    eprintln!("first rsync -a of 200 files: {:?}", started.elapsed());
    assert!(
        first
            .iter()
            .filter(|l| l.starts_with(">f+++++++++"))
            .count()
            == 200,
        "the first run sends every file: {first:#?}"
    );
    assert_same("after rsync", &want, &snapshot(&dst), true);

    let second = rsync(&src, &dst, &[]);
    assert!(second.is_empty(), "the second run changed: {second:#?}");
    let omitted = rsync(&src, &dst, &["--omit-dir-times"]);
    assert!(
        omitted.is_empty(),
        "a run with --omit-dir-times changed: {omitted:#?}"
    );
    let stats = run(Command::new("rsync")
        .args(["-a", "--stats"])
        .arg(format!("{}/", src.display()))
        .arg(format!("{}/", dst.display())));
    assert!(
        stats.contains("Number of regular files transferred: 0"),
        "a run with --stats transferred files:\n{stats}"
    );

    // A change, an addition and a deletion are sent, and only they.
    let changed = src.join("d1/e0/file001.dat");
    write_file(&changed, &rng.bytes(5000));
    set_mtime(&changed, T0 - 86_400);
    write_file(&src.join("d4/new/added.dat"), &rng.bytes(3000));
    fs::remove_file(src.join("d2/e0/file002.dat")).expect("remove");
    dirs_0755(&src);
    let mut third = rsync(&src, &dst, &["--delete"]);
    third.sort();
    let want_changes = [
        "*deleting   d2/e0/file002.dat",
        ">f+++++++++ d4/new/added.dat",
        ">f.st...... d1/e0/file001.dat",
    ];
    for line in want_changes {
        assert!(
            third.iter().any(|l| l == line),
            "the run after a change lacks {line:?}: {third:#?}"
        );
    }
    let sent: Vec<&String> = third
        .iter()
        .filter(|l| l.starts_with('>') || l.starts_with('*'))
        .collect();
    assert_eq!(sent.len(), 3, "only the changed files: {third:#?}");
    let want = snapshot(&src);
    assert_same("after the change", &want, &snapshot(&dst), true);
    let fourth = rsync(&src, &dst, &["--delete"]);
    assert!(fourth.is_empty(), "the run after that changed: {fourth:#?}");

    // In the bucket; nothing to send after a remount on the same cache either.
    b.flush(&mounted);
    let in_bucket = snapshot(&object_file(&b.buckets, "dst"));
    assert_same("in the bucket", &files(&want), &files(&in_bucket), false);
    b.unmount(mounted);
    let mounted = b.mount("cache");
    let after = rsync(&src, &dst, &["--delete"]);
    assert!(
        after.is_empty(),
        "the run after a remount changed: {after:#?}"
    );
    assert_same("after a remount", &want, &snapshot(&dst), true);
    b.unmount(mounted);
}

//! fsx-style: one random sequence of file operations (writes at random offsets, truncates,
//! renames, unlinks, reads, fsyncs, listings) applied to the mount and to a directory on
//! the local disk, compared after every step; at the end the bucket (after a flush) and a
//! remount are compared too. The same runs go through the disk cache and without it
//! (`--no-local-cache`). A failing run prints its seed; `SILT_FSX_SEED=N` replays one.
//! Needs root and /dev/fuse (fails without, never skips).

mod support;

use silt_fuse::demo::DemoServer;
use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::Path;
use support::*;

/// Operations per seed.
const STEPS: usize = 150;
/// File names the operations pick from (few, so that they meet).
const NAMES: [&str; 5] = ["f0", "f1", "f2.txt", "f3.bin", "f4"];
/// Largest offset or size.
const SPAN: u64 = 400_000;

/// splitmix64: small, seedable, enough for picking operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn name(&mut self) -> &'static str {
        NAMES[self.below(NAMES.len() as u64) as usize]
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let seed = self.next();
        (0..len)
            .map(|i| (seed.rotate_left((i % 64) as u32) as u8) ^ (i as u8))
            .collect()
    }
}

/// What an operation returned, comparable across the two directories.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done,
    Data(Vec<u8>),
    Names(Vec<String>),
    Failed(ErrorKind),
}

fn outcome<T>(r: std::io::Result<T>, ok: impl FnOnce(T) -> Outcome) -> Outcome {
    match r {
        Ok(v) => ok(v),
        Err(e) => Outcome::Failed(e.kind()),
    }
}

/// One operation, as text for the failure report.
#[derive(Clone, Debug)]
enum Op {
    Write {
        name: &'static str,
        offset: u64,
        data: Vec<u8>,
        fsync: bool,
    },
    Truncate {
        name: &'static str,
        size: u64,
    },
    CreateTruncate {
        name: &'static str,
        data: Vec<u8>,
    },
    Read {
        name: &'static str,
        offset: u64,
        len: usize,
    },
    ReadAll {
        name: &'static str,
    },
    Rename {
        from: &'static str,
        to: &'static str,
    },
    Unlink {
        name: &'static str,
    },
    List,
}

impl Op {
    fn random(rng: &mut Rng) -> Op {
        match rng.below(100) {
            0..=34 => {
                let len = 1 + rng.below(70_000) as usize;
                Op::Write {
                    name: rng.name(),
                    offset: rng.below(SPAN),
                    data: rng.bytes(len),
                    fsync: rng.below(3) == 0,
                }
            }
            35..=44 => Op::Truncate {
                name: rng.name(),
                size: rng.below(SPAN),
            },
            45..=49 => {
                let len = rng.below(5_000) as usize;
                Op::CreateTruncate {
                    name: rng.name(),
                    data: rng.bytes(len),
                }
            }
            50..=64 => Op::Read {
                name: rng.name(),
                offset: rng.below(SPAN),
                len: 1 + rng.below(100_000) as usize,
            },
            65..=74 => Op::ReadAll { name: rng.name() },
            75..=84 => Op::Rename {
                from: rng.name(),
                to: rng.name(),
            },
            85..=91 => Op::Unlink { name: rng.name() },
            _ => Op::List,
        }
    }

    /// Describes the operation without its bytes.
    fn describe(&self) -> String {
        match self {
            Op::Write {
                name,
                offset,
                data,
                fsync,
            } => {
                format!(
                    "write {name} at {offset}, {} bytes, fsync {fsync}",
                    data.len()
                )
            }
            Op::CreateTruncate { name, data } => {
                format!("O_TRUNC write {name}, {} bytes", data.len())
            }
            other => format!("{other:?}"),
        }
    }

    fn apply(&self, dir: &Path) -> Outcome {
        match self {
            Op::Write {
                name,
                offset,
                data,
                fsync,
            } => outcome(
                (|| {
                    let f = OpenOptions::new()
                        .create(true)
                        .truncate(false)
                        .write(true)
                        .open(dir.join(name))?;
                    f.write_all_at(data, *offset)?;
                    if *fsync {
                        f.sync_all()?;
                    }
                    Ok(())
                })(),
                |()| Outcome::Done,
            ),
            Op::Truncate { name, size } => outcome(
                OpenOptions::new()
                    .write(true)
                    .open(dir.join(name))
                    .and_then(|f| f.set_len(*size)),
                |()| Outcome::Done,
            ),
            Op::CreateTruncate { name, data } => {
                outcome(fs::write(dir.join(name), data), |()| Outcome::Done)
            }
            Op::Read { name, offset, len } => outcome(
                fs::File::open(dir.join(name)).and_then(|f| {
                    let mut buf = vec![0; *len];
                    let mut got = 0;
                    while got < buf.len() {
                        match f.read_at(&mut buf[got..], offset + got as u64)? {
                            0 => break,
                            n => got += n,
                        }
                    }
                    buf.truncate(got);
                    Ok(buf)
                }),
                Outcome::Data,
            ),
            Op::ReadAll { name } => outcome(fs::read(dir.join(name)), Outcome::Data),
            Op::Rename { from, to } => {
                outcome(fs::rename(dir.join(from), dir.join(to)), |()| Outcome::Done)
            }
            Op::Unlink { name } => outcome(fs::remove_file(dir.join(name)), |()| Outcome::Done),
            Op::List => Outcome::Names(names(dir)),
        }
    }
}

/// Both directories hold the same names with the same bytes.
fn same_tree(mount: &Path, reference: &Path) -> Result<(), String> {
    let (m, r) = (names(mount), names(reference));
    if m != r {
        return Err(format!("names differ: mount {m:?}, reference {r:?}"));
    }
    for name in &r {
        let a = fs::read(mount.join(name)).map_err(|e| format!("read {name} on the mount: {e}"))?;
        let b = fs::read(reference.join(name)).map_err(|e| format!("read {name}: {e}"))?;
        if a != b {
            let first = a.iter().zip(&b).position(|(x, y)| x != y);
            return Err(format!(
                "{name} differs: mount {} bytes, reference {}, first difference at {first:?}",
                a.len(),
                b.len()
            ));
        }
    }
    Ok(())
}

/// What the mount serves files through.
#[derive(Clone, Copy, Debug)]
enum Serving {
    /// The disk cache (the default).
    Cached,
    /// The bucket through memory (`--no-local-cache`).
    Direct,
}

fn backend(
    rt: &tokio::runtime::Runtime,
    how: Serving,
    server: &DemoServer,
    cache: &Path,
) -> silt_fuse::Backend {
    match how {
        Serving::Cached => {
            let remote = bounded(rt, "probe", remote(server));
            bounded(rt, "engine", engine(cache, &remote)).into()
        }
        Serving::Direct => bounded(rt, "bucket", direct(server, 64 << 20)).into(),
    }
}

fn run_seed(seed: u64, how: Serving) {
    let rt = runtime();
    let s = Served::start(&rt);
    let reference = s.path("reference");
    fs::create_dir_all(&reference).expect("reference dir");
    let mounted = mount(&rt, backend(&rt, how, &s.server, &s.cache), &s.mnt);

    let mut rng = Rng(seed);
    let mut trace = Vec::new();
    for step in 0..STEPS {
        let op = Op::random(&mut rng);
        trace.push(op.describe());
        let (got, want) = (op.apply(&s.mnt), op.apply(&reference));
        let fail = |what: String| -> ! {
            let tail = trace[trace.len().saturating_sub(12)..].join("\n  ");
            panic!(
                "{how:?} seed {seed} (SILT_FSX_SEED={seed}), step {step}: {what}\n  last steps:\n  {tail}"
            )
        };
        if got != want {
            let short = |o: &Outcome| match o {
                Outcome::Data(d) => format!("{} bytes", d.len()),
                other => format!("{other:?}"),
            };
            fail(format!(
                "{}: mount {}, reference {}",
                op.describe(),
                short(&got),
                short(&want)
            ));
        }
        if step % 10 == 9 {
            if let Err(e) = same_tree(&s.mnt, &reference) {
                fail(e);
            }
        }
    }
    if let Err(e) = same_tree(&s.mnt, &reference) {
        panic!("seed {seed}: at the end: {e}");
    }

    // The bucket holds exactly the reference after a flush (without a disk cache: at once,
    // every close stored its file)...
    if let Some(manager) = mounted.manager() {
        bounded(&rt, "flush", manager.flush(true)).expect("flush");
    }
    let bucket_dir = s.buckets.join(BUCKET);
    let objects: Vec<String> = names(&bucket_dir)
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(
        objects,
        names(&reference),
        "seed {seed}: objects in the bucket"
    );
    for name in &objects {
        assert!(
            fs::read(bucket_dir.join(name)).expect("object")
                == fs::read(reference.join(name)).expect("reference"),
            "seed {seed}: object {name} differs from the reference"
        );
    }
    // ...and a remount shows it too.
    bounded(&rt, "unmount", mounted.unmount()).expect("unmount");
    let mounted = mount(&rt, backend(&rt, how, &s.server, &s.cache), &s.mnt);
    if let Err(e) = same_tree(&s.mnt, &reference) {
        panic!("seed {seed}: after a remount: {e}");
    }
    bounded(&rt, "unmount again", mounted.unmount()).expect("unmount");
}

fn seeds() -> Vec<u64> {
    match std::env::var("SILT_FSX_SEED") {
        Ok(s) => vec![s.trim().parse().expect("SILT_FSX_SEED is a number")],
        Err(_) => (1..=4).collect(),
    }
}

#[test]
fn random_operations_on_the_mount_match_a_local_directory() {
    require_fuse();
    for seed in seeds() {
        run_seed(seed, Serving::Cached);
    }
}

#[test]
fn random_operations_without_a_local_cache_match_a_local_directory() {
    require_fuse();
    for seed in seeds() {
        run_seed(seed, Serving::Direct);
    }
}

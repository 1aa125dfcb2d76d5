//! Arbitrary input sequences into the core, as a broken driver or a strange server could send
//! them: completions of unknown ids, answers of the wrong kind, short or long data, requests on
//! bad handles, time going backwards. The core must never panic.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use silt_core::{
    Core, CoreConfig, HandleId, Input, Instant, IoId, LocalError, LocalOk, ObjectInfo, Output, RemoteError, RemoteId,
    OpenFlags, RemoteOk, Reply, Request, RequestId, TxnId,
};
use std::time::Duration;

struct Bytes8<'a>(&'a [u8]);

impl Bytes8<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }
    fn small(&mut self) -> Option<u64> {
        Some(u64::from(self.byte()?) * 7)
    }
}

fuzz_target!(|data: &[u8]| {
    let cfg = CoreConfig {
        chunk_size: 16,
        min_part_size: 32,
        multipart_threshold: 48,
        write_back_delay: Duration::from_millis(5),
        commit_interval: Duration::from_millis(20),
        retry_initial: Duration::from_millis(5),
        retry_max: Duration::from_millis(50),
        cache_budget: 256,
        dirty_limit: 192,
        write_wait_timeout: Duration::from_millis(30),
        min_free_space: 0,
        ..CoreConfig::default()
    };
    let Ok(mut core) = Core::new(cfg, Instant::from_millis(0)) else { return };
    let mut r = Bytes8(data);
    let (mut local, mut remote, mut txns, mut handles) = (Vec::new(), Vec::new(), Vec::new(), vec![HandleId(1)]);
    let mut now = 0u64;
    let mut req = 0u64;
    while let Some(op) = r.byte() {
        now = now.wrapping_add(r.small().unwrap_or(0)).min(1 << 40);
        let pick = |v: &Vec<u64>, i: u8| v.get(usize::from(i) % v.len().max(1)).copied().unwrap_or(u64::from(i));
        let input = match op % 12 {
            0 | 1 => {
                req += 1;
                let key = ["a", "b", "../c", "d/e", "d", "d/"][usize::from(r.byte().unwrap_or(0)) % 6].to_string();
                let request = match r.byte().unwrap_or(0) % 16 {
                    0 => {
                        let f = r.byte().unwrap_or(0);
                        let flags = OpenFlags { create: f & 1 != 0, exclusive: f & 2 != 0, truncate: f & 4 != 0, passthrough: f & 8 != 0 };
                        Request::Open { key, flags }
                    }
                    1 => Request::Unlink { key },
                    2 => Request::Rename { from: key, to: "b".into() },
                    8 => Request::Stat { key },
                    9 => Request::List { dir: ["", "d/", "x/"][usize::from(r.byte().unwrap_or(0)) % 3].into(), after: None, max: 2 },
                    10 => Request::Mkdir { key },
                    11 => Request::Rmdir { key },
                    12 => Request::RenameDir { from: key, to: "f".into() },
                    13 => Request::Flush,
                    n => {
                        let handle = handles[usize::from(r.byte().unwrap_or(0)) % handles.len()];
                        let (offset, len) = (r.small().unwrap_or(0), r.small().unwrap_or(0));
                        match n {
                            3 => Request::Read { handle, offset, len },
                            4 => Request::Write { handle, offset, data: Bytes::from(vec![7; len as usize % 64]) },
                            5 => Request::Fsync { handle },
                            6 => Request::Truncate { handle, size: len },
                            14 => Request::SetMtime { handle, mtime_ms: len },
                            _ => Request::Close { handle },
                        }
                    }
                };
                Input::Request(RequestId(req), request)
            }
            2 | 3 | 4 => {
                let id = IoId(pick(&local, r.byte().unwrap_or(0)));
                let result = match r.byte().unwrap_or(0) % 4 {
                    0 => Err(LocalError::NoSpace),
                    1 => Err(LocalError::Io("eio".into())),
                    2 => Ok(LocalOk::Data(Bytes::from(vec![1; r.small().unwrap_or(0) as usize]))),
                    _ => Ok(LocalOk::Done),
                };
                Input::Local(id, result)
            }
            5 | 6 | 7 => {
                let id = RemoteId(pick(&remote, r.byte().unwrap_or(0)));
                let etag = format!("\"e{}\"", r.byte().unwrap_or(0) % 3);
                let result = match r.byte().unwrap_or(0) % 9 {
                    0 => Ok(RemoteOk::Head(None)),
                    1 => Ok(RemoteOk::Head(Some(ObjectInfo { etag, size: r.small().unwrap_or(0), mtime_ms: 0, token: None }))),
                    2 => Ok(RemoteOk::Got { data: Bytes::from(vec![2; r.small().unwrap_or(0) as usize]), etag, object_size: 9 }),
                    3 => Ok(RemoteOk::Stored { etag }),
                    4 => Ok(RemoteOk::Created { upload_id: "u".into() }),
                    5 => Ok(RemoteOk::Part { etag }),
                    6 => Err(RemoteError::PreconditionFailed),
                    7 => Err(RemoteError::NoSuchUpload),
                    _ => Err(RemoteError::Transient("503".into())),
                };
                Input::Remote(id, result)
            }
            8 => Input::Index(TxnId(pick(&txns, r.byte().unwrap_or(0))), Ok(())),
            9 => Input::DiskFree { bytes: r.small().unwrap_or(0) },
            _ => Input::Timeout,
        };
        core.handle_input(Instant::from_millis(now), input);
        while let Some(out) = core.poll_output() {
            match out {
                Output::Local(id, _) => local.push(id.0),
                Output::Remote(id, _) => remote.push(id.0),
                Output::Index(id, _) => txns.push(id.0),
                Output::Reply(_, Ok(Reply::Opened { handle, .. })) => handles.push(handle),
                _ => {}
            }
        }
    }
});

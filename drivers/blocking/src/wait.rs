//! Waiting on the shared client's futures from a plain thread: [`wait`] polls a future and
//! parks the thread until its waker unparks it. The futures wait only on runtime-agnostic
//! primitives (tokio's oneshot and semaphore, which need no runtime to wake their waiters),
//! so this is a blocking receive, nothing more: no runtime, no tasks.

use crate::sync::{current, park, Thread};
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `fut` to completion on this thread, parked while it is pending.
pub(crate) fn wait<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(Unpark(current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        // A wake before this park makes it return at once; a spurious return polls again
        // (model-checked: `drivers/engine/tests/loom_blocking.rs`).
        park();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn waits_for_an_answer_sent_from_another_thread() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            tx.send(7).expect("receiver waits");
        });
        assert_eq!(wait(rx), Ok(7));
        sender.join().expect("sender");
        assert_eq!(wait(async { 5 }), 5);
    }

    #[test]
    fn waits_for_room_in_a_semaphore() {
        let sem = Arc::new(tokio::sync::Semaphore::new(1));
        let held = sem.clone().try_acquire_owned().expect("free");
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            drop(held);
        });
        let again = wait(sem.clone().acquire_owned()).expect("not closed");
        drop(again);
        releaser.join().expect("releaser");
    }
}

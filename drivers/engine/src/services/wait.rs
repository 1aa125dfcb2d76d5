//! Waiting on the loop's answers from a plain thread (the HTTP and control-socket threads),
//! with a deadline: the future is polled and the thread parked until its waker unparks it.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `fut` on this thread until it is ready (`Some`) or `timeout` passes (`None`; with
/// no timeout, until it is ready).
pub(crate) fn wait<F: Future>(fut: F, timeout: Option<Duration>) -> Option<F::Output> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Some(v);
        }
        match deadline {
            None => std::thread::park(),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return None;
                }
                std::thread::park_timeout(d - now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_or_gives_up_at_the_deadline() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let _ = tx.send(3);
        });
        assert_eq!(wait(rx, Some(Duration::from_secs(10))), Some(Ok(3)));
        sender.join().expect("sender");
        let (_tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let started = Instant::now();
        assert_eq!(wait(rx, Some(Duration::from_millis(30))), None);
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}

//! The remote executor (`exec::run_remote`) against silt-memstore's bucket through the
//! `ObjectStore` trait: no SDK, no server. What the core hears back for answers, faults,
//! the slot limit and an executor dropped before it answered.

use bytes::Bytes;
use silt_core::{Input, RemoteError, RemoteId, RemoteOk, RemoteOp};
use silt_engine::exec::{run_remote, Report};
use silt_memstore::{Fault, OpKind, SharedStore};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

fn put(key: &str) -> RemoteOp {
    RemoteOp::Put {
        key: key.into(),
        data: Bytes::from_static(b"body"),
        precondition: None,
        token: "tok".into(),
        mtime_ms: 1_700_000_000_000,
    }
}

fn answer(rx: &Receiver<Input>) -> (RemoteId, Result<RemoteOk, RemoteError>) {
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(Input::Remote(id, r)) => (id, r),
        other => panic!("not a remote completion: {other:?}"),
    }
}

#[tokio::test]
async fn answers_and_injected_faults_reach_the_core() {
    let store = Arc::new(SharedStore::new());
    store.with(|m| m.inject(Fault::refuse(OpKind::Put, 1)));
    let slots = Arc::new(Semaphore::new(4));
    let (tx, rx) = channel::<Input>();
    for n in 1..=2 {
        let id = RemoteId(n);
        let report = Report::remote(tx.clone(), id);
        run_remote(store.clone(), slots.clone(), id, put("k"), report).await;
    }
    let (id, r) = answer(&rx);
    assert_eq!(id, RemoteId(1));
    assert!(matches!(r, Err(RemoteError::Transient(m)) if m.contains("PutObject")));
    let (id, r) = answer(&rx);
    assert_eq!(id, RemoteId(2));
    assert!(matches!(r, Ok(RemoteOk::Stored { .. })));
    assert_eq!(store.with(|m| m["k"].token.clone()).as_deref(), Some("tok"));
}

#[tokio::test]
async fn an_operation_waits_for_a_free_slot() {
    let store = Arc::new(SharedStore::new());
    let slots = Arc::new(Semaphore::new(1));
    let held = slots.clone().acquire_owned().await.expect("open");
    let (tx, rx) = channel::<Input>();
    let task = tokio::spawn(run_remote(
        store.clone(),
        slots.clone(),
        RemoteId(7),
        put("k"),
        Report::remote(tx, RemoteId(7)),
    ));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!store.with(|m| m.contains_key("k")), "sent without a slot");
    drop(held);
    task.await.expect("executor");
    assert!(matches!(
        answer(&rx),
        (RemoteId(7), Ok(RemoteOk::Stored { .. }))
    ));
}

#[tokio::test]
async fn an_executor_dropped_before_it_answered_still_answers() {
    let store = Arc::new(SharedStore::new());
    let slots = Arc::new(Semaphore::new(1));
    let _held = slots.clone().acquire_owned().await.expect("open");
    let (tx, rx) = channel::<Input>();
    let task = tokio::spawn(run_remote(
        store.clone(),
        slots.clone(),
        RemoteId(9),
        put("k"),
        Report::remote(tx, RemoteId(9)),
    ));
    tokio::time::sleep(Duration::from_millis(20)).await;
    task.abort();
    let _ = task.await;
    let (id, r) = answer(&rx);
    assert_eq!(id, RemoteId(9));
    assert!(matches!(r, Err(RemoteError::Transient(_))));
    assert!(!store.with(|m| m.contains_key("k")));
}

//! Faults happen only when the caller switches them on or draws them: scripted, down, or at
//! rates decided by the caller's generator.

use bytes::Bytes;
use silt_core::{RemoteError, RemoteOk, RemoteOp};
use silt_memstore::{Fault, FaultRates, MemStore, OpKind};

fn put(key: &str) -> RemoteOp {
    RemoteOp::Put {
        key: key.into(),
        data: Bytes::from_static(b"x"),
        precondition: None,
        token: "t".into(),
        mtime_ms: 1_700_000_000_000,
    }
}

fn head(key: &str) -> RemoteOp {
    RemoteOp::Head { key: key.into() }
}

#[test]
fn a_refused_operation_changes_nothing_and_strikes_only_its_kind() {
    let mut s = MemStore::new();
    s.inject(Fault::refuse(OpKind::Put, 2));
    assert!(matches!(s.perform(&head("k"), 0), Ok(RemoteOk::Head(None))));
    for _ in 0..2 {
        assert!(matches!(
            s.perform(&put("k"), 0),
            Err(RemoteError::Transient(_))
        ));
        assert!(!s.contains_key("k"));
    }
    assert!(s.faults().is_empty());
    assert!(matches!(
        s.perform(&put("k"), 0),
        Ok(RemoteOk::Stored { .. })
    ));
}

#[test]
fn a_lost_answer_leaves_the_write_applied() {
    let mut s = MemStore::new();
    s.inject(Fault::lose_answer(OpKind::Put, 1));
    assert!(matches!(
        s.perform(&put("k"), 0),
        Err(RemoteError::Transient(_))
    ));
    assert_eq!(s.get("k").and_then(|o| o.token.as_deref()), Some("t"));
}

#[test]
fn a_store_that_is_down_refuses_everything_until_it_is_back() {
    let mut s = MemStore::new();
    s.down = true;
    assert!(matches!(
        s.perform(&head("k"), 0),
        Err(RemoteError::Transient(_))
    ));
    assert!(matches!(
        s.perform(&put("k"), 0),
        Err(RemoteError::Transient(_))
    ));
    assert!(s.objects.is_empty());
    s.down = false;
    assert!(matches!(
        s.perform(&put("k"), 0),
        Ok(RemoteOk::Stored { .. })
    ));
}

#[test]
fn scripted_faults_strike_in_order_and_can_be_cleared() {
    let mut s = MemStore::new();
    s.inject(Fault {
        on: None,
        ..Fault::refuse(OpKind::Head, 1)
    });
    s.inject(Fault {
        error: RemoteError::Permanent("403".into()),
        ..Fault::refuse(OpKind::Put, 5)
    });
    // The first fault strikes any kind.
    assert!(matches!(
        s.perform(&put("k"), 0),
        Err(RemoteError::Transient(_))
    ));
    assert_eq!(
        s.perform(&put("k"), 0),
        Err(RemoteError::Permanent("403".into()))
    );
    s.clear_faults();
    assert!(matches!(
        s.perform(&put("k"), 0),
        Ok(RemoteOk::Stored { .. })
    ));
}

/// A tiny deterministic generator standing in for the caller's.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn rates_draw_once_per_refused_operation_twice_otherwise_and_replay_with_the_seed() {
    let rates = FaultRates {
        error_per_mille: 300,
        timeout_per_mille: 300,
    };
    let run = |seed: u64| {
        let mut s = MemStore::new();
        let mut rng = Lcg(seed);
        let mut draws = 0;
        let mut out = vec![];
        for i in 0..200 {
            let r = s.perform_with_rates(
                &put(&format!("k{i}")),
                i,
                rates,
                &mut |n| {
                    draws += 1;
                    rng.below(n)
                },
                &mut |_| {},
            );
            out.push((r.is_ok(), s.contains_key(&format!("k{i}"))));
        }
        (out, draws)
    };
    let (a, draws) = run(7);
    let refused = a.iter().filter(|(ok, stored)| !ok && !stored).count();
    assert_eq!(draws, 400 - refused);
    assert_eq!(a, run(7).0);
    assert_ne!(a, run(8).0);
    // Refused: not stored. Timed out: stored, answer lost. Both happen at these rates.
    assert!(a.contains(&(false, false)));
    assert!(a.contains(&(false, true)));
    assert!(a.contains(&(true, true)));
    assert!(!a.contains(&(true, false)));
}

//! The write-memory budget under the loom model checker: every interleaving of writers
//! taking and giving back room. Built only with `--cfg loom`:
//!
//! `RUSTFLAGS="--cfg loom" cargo test --release -p silt-engine --test loom_budget`
//!
//! (scripts/test.sh runs it.) The semaphore is tokio's (its own loom tests check it); what
//! is modelled here is silt's accounting around it: the bytes in flight and their peak,
//! which `Status::memory` reports and the end-to-end tests hold to the limit.
#![cfg(loom)]

use silt_engine::WriteBudget;

/// Takes room for `len` bytes, checks what the budget says while holding it, gives it back.
fn write(budget: &std::sync::Arc<WriteBudget>, len: u64) {
    let permit = loom::future::block_on(budget.acquire(len)).expect("the budget is never closed");
    let f = budget.figures();
    assert!(
        f.in_use <= f.limit,
        "{} bytes in flight over {}",
        f.in_use,
        f.limit
    );
    assert!(f.in_use >= len.min(f.limit), "a holder's bytes are counted");
    drop(permit);
}

#[test]
fn bytes_in_flight_never_pass_the_budget_and_all_come_back() {
    loom::model(|| {
        let budget = WriteBudget::new(4);
        let others: Vec<_> = [3u64, 2]
            .into_iter()
            .map(|len| {
                let budget = budget.clone();
                loom::thread::spawn(move || write(&budget, len))
            })
            .collect();
        write(&budget, 2);
        for t in others {
            t.join().expect("writer");
        }
        let f = budget.figures();
        assert_eq!(f.in_use, 0, "every byte came back");
        assert!(f.peak <= f.limit, "peak {} over {}", f.peak, f.limit);
        assert!(f.peak >= 3);
    });
}

#[test]
fn a_write_larger_than_the_budget_waits_for_all_of_it_and_runs_alone() {
    loom::model(|| {
        let budget = WriteBudget::new(4);
        let big = {
            let budget = budget.clone();
            loom::thread::spawn(move || write(&budget, 100))
        };
        write(&budget, 1);
        big.join().expect("the large writer");
        let f = budget.figures();
        assert_eq!((f.in_use, f.peak), (0, 4));
    });
}

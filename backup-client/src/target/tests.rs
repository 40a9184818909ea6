//! The call schedulers: every call of every chain, in order; in waves, or
//! with `parallel` calls in flight.

use super::*;
use crate::error::Error;
use std::cell::{Cell, RefCell};
use std::time::Duration;

/// Chains of these lengths; each call's argument is `[chain, index]`.
const LENGTHS: [u8; 9] = [3, 1, 2, 4, 1, 5, 2, 1, 3];

fn starts() -> Vec<(String, Vec<u8>)> {
    (0..LENGTHS.len() as u8)
        .map(|chain| ("m".to_string(), vec![chain, 0]))
        .collect()
}

type Next = Result<Option<(String, Vec<u8>)>>;

/// A step that checks each chain's replies come in order and asks for
/// the chain's next call; it records every reply.
fn checking_step(seen: &RefCell<Vec<(usize, u8)>>) -> impl FnMut(usize, Vec<u8>) -> Next + '_ {
    move |chain, reply| {
        let index = reply[1];
        assert_eq!(reply[0] as usize, chain, "a reply handed to its own chain");
        let before = seen.borrow().iter().filter(|(c, _)| *c == chain).count();
        assert_eq!(index as usize, before, "chain {chain} in order");
        seen.borrow_mut().push((chain, index));
        Ok((index + 1 < LENGTHS[chain]).then(|| ("m".to_string(), vec![chain as u8, index + 1])))
    }
}

#[test]
fn waves_make_every_call_of_every_chain_in_order() {
    let seen = RefCell::new(Vec::new());
    let mut calls = 0;
    let waves = in_waves(
        starts(),
        2,
        &mut |_, arg| {
            calls += 1;
            Ok(arg.to_vec())
        },
        &mut checking_step(&seen),
    )
    .unwrap();
    let total: usize = LENGTHS.iter().map(|&n| n as usize).sum();
    assert_eq!((calls, seen.borrow().len()), (total, total));
    // Two chains at a time, a chain that ends letting the next one in.
    assert_eq!(waves, 12);
    // An error ends the chains.
    let error = in_waves(
        starts(),
        2,
        &mut |_, _| Err(Error::Network("down".into())),
        &mut |_, _| Ok(None),
    );
    assert!(error.is_err());
}

/// Live, `parallel` calls are in flight whenever that many chains have
/// calls left, never more, and each chain's calls go in order.
#[test]
fn calls_stay_in_flight_as_chains_go_on() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (flying, most, starved) = (Cell::new(0usize), Cell::new(0usize), Cell::new(0usize));
    let remaining = RefCell::new(LENGTHS.map(|n| n as usize).to_vec());
    let seen = RefCell::new(Vec::new());
    let parallel = 3;
    let query = |_method: String, arg: Vec<u8>| {
        flying.set(flying.get() + 1);
        most.set(most.get().max(flying.get()));
        // Fewer in flight than could be: a chain with calls left waits.
        let left = remaining.borrow().iter().filter(|&&n| n > 0).count();
        if most.get() == parallel && flying.get() < parallel.min(left) {
            starved.set(starved.get() + 1);
        }
        let (flying, remaining) = (&flying, &remaining);
        async move {
            let pause = 1 + (arg[0] as u64 * 7 + arg[1] as u64 * 3) % 5;
            tokio::time::sleep(Duration::from_millis(pause)).await;
            flying.set(flying.get() - 1);
            remaining.borrow_mut()[arg[0] as usize] -= 1;
            Ok(arg)
        }
    };
    let mut step = checking_step(&seen);
    runtime
        .block_on(in_flight(starts(), parallel, query, &mut step))
        .unwrap();
    let total: usize = LENGTHS.iter().map(|&n| n as usize).sum();
    assert_eq!(seen.borrow().len(), total);
    assert_eq!(most.get(), parallel);
    assert_eq!(
        starved.get(),
        0,
        "a call was not started as soon as it could be"
    );
}

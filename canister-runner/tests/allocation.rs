//! The runner checks a canister's arguments to the system API before it
//! allocates anything for them: a canister cannot make the runner (and the
//! CLI or test that embeds it) allocate what it asks for.
//!
//! A global allocator records the largest single allocation, so the test sees
//! an allocation even when the operating system would have satisfied it
//! lazily.

// A global allocator is `unsafe` by its trait: the workspace denies unsafe
// code everywhere else.
#![allow(unsafe_code)]

use candid::Principal;
use canister_runner::{Canister, InstallArgs, RejectCode};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

/// Each method passes `size = -1` (4 GiB as an unsigned 32-bit size) to one
/// system call that reads from the canister's memory.
const GREEDY: &str = r#"
(module
  (import "ic0" "debug_print" (func $print (param i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_reject" (func $reject (param i32 i32)))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (import "ic0" "is_controller" (func $is_controller (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "canister_update print") (call $print (i32.const 0) (i32.const -1)))
  (func (export "canister_update append") (call $append (i32.const 0) (i32.const -1)))
  (func (export "canister_update reject") (call $reject (i32.const 0) (i32.const -1)))
  (func (export "canister_update trap") (call $trap (i32.const 0) (i32.const -1)))
  (func (export "canister_update controller") (drop (call $is_controller (i32.const 0) (i32.const -1))))
)
"#;

#[test]
fn a_size_of_minus_one_traps_without_allocating_it() {
    let wasm = wat::parse_str(GREEDY).unwrap();
    let mut canister = Canister::install(&wasm, InstallArgs::default()).unwrap();
    let caller = Principal::from_slice(&[7; 29]);
    for method in ["print", "append", "reject", "trap", "controller"] {
        LARGEST.store(0, Ordering::Relaxed);
        let result = canister.update(caller, method, b"DIDL\x00\x00");
        let largest = LARGEST.load(Ordering::Relaxed);
        let reject = result.result.expect_err("the call traps");
        assert_eq!(reject.code, RejectCode::CanisterError, "{method}: {reject}");
        // As on the IC, the call is charged before it reads: sending 4 GiB
        // out (50 instructions a byte) is past the limit before anything
        // is read.
        assert!(
            reject.message.contains("outside the canister's memory")
                || reject.message.contains("exceeded the instruction limit"),
            "{method}: {}",
            reject.message
        );
        assert!(
            largest < 64 << 20,
            "{method}: the runner allocated {largest} bytes for a canister's bad size"
        );
    }
}

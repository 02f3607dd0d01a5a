//! What a compromised worker can send aether: arbitrary bytes on its socket. The broker's
//! decoder must return a message or an error, never panic or allocate past the frame cap.
#![no_main]

use aether_worker::wire::{FromWorker, decode, read_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode::<FromWorker>(data);
    let mut input = data;
    while read_frame::<FromWorker>(&mut input, 1 << 20).is_ok() {}
});

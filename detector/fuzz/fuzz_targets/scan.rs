//! Fuzz target: see `detector::fuzz::scan_input` for what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| detector::fuzz::scan_input(data));

//! Fuzz target: see `detector::fuzz::literals_input` for what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| detector::fuzz::literals_input(data));

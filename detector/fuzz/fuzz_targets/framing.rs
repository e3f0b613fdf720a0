//! Fuzz target: see `detector::fuzz::framing_input` for what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| detector::fuzz::framing_input(data));

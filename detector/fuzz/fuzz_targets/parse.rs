//! Fuzz target: see `detector::fuzz::parse_input` for what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| detector::fuzz::parse_input(data));

//! Shared by the detector's integration tests.

pub use detector::mining::score::csv_record as csv_fields;

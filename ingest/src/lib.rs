//! The appliance's daemon side: the XDP program's loader, AF_XDP sockets, the receive loop, and
//! the test-network helper shared with `bench`.
//!
//! Unsafe system calls live in [`sys`] only.

pub mod frame;
pub mod netns;
pub mod run;
pub mod sys;
pub mod xdp;

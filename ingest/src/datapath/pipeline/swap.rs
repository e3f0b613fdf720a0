//! How a worker takes up a new engine (a reload) between two batches, and hands the old one back
//! to be dropped off its thread: one slot each way, so nothing is allocated or freed on the
//! worker.

use detector::engine::Engine;

/// An engine for a new rule set, and its generation.
#[derive(Debug)]
pub struct NewEngine {
    /// 1 for the first reload, and so on.
    pub generation: u32,
    /// The engine, made (and its tables allocated) off the worker's thread.
    pub engine: Box<Engine>,
}

/// A worker's side of an engine swap: where new engines arrive and old ones leave.
#[derive(Debug)]
pub struct EngineSwap {
    /// New engines.
    pub incoming: rtrb::Consumer<NewEngine>,
    /// Replaced engines, dropped by the housekeeping thread.
    pub retired: rtrb::Producer<Box<Engine>>,
}

/// The housekeeping side of a worker's [`EngineSwap`].
#[derive(Debug)]
pub struct EngineSwapHandle {
    /// Where new engines go.
    pub incoming: rtrb::Producer<NewEngine>,
    /// Where old ones come back.
    pub retired: rtrb::Consumer<Box<Engine>>,
}

/// A connected pair: one engine in flight each way at a time.
pub fn engine_swap() -> (EngineSwap, EngineSwapHandle) {
    let (in_tx, in_rx) = rtrb::RingBuffer::new(1);
    let (out_tx, out_rx) = rtrb::RingBuffer::new(1);
    (
        EngineSwap {
            incoming: in_rx,
            retired: out_tx,
        },
        EngineSwapHandle {
            incoming: in_tx,
            retired: out_rx,
        },
    )
}

//! What the engine holds and has evicted: read a few times a second, off the message path.

/// The engine's kinds of per-key state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateTable {
    /// Threshold rules' windows, per group key.
    Threshold,
    /// Correlation rules' windows, per group.
    Correlation,
    /// Silence rules' last-seen times, per host or app.
    Silence,
    /// Mined templates.
    Templates,
    /// Rate baselines, per (host, app, template).
    Baselines,
    /// Audit events waiting for their EXECVE record, to be joined into a process creation.
    AuditEvents,
}

impl StateTable {
    /// Every table, in index order.
    pub const ALL: [StateTable; 6] = [
        StateTable::Threshold,
        StateTable::Correlation,
        StateTable::Silence,
        StateTable::Templates,
        StateTable::Baselines,
        StateTable::AuditEvents,
    ];

    /// The metric label.
    pub const fn name(self) -> &'static str {
        match self {
            StateTable::Threshold => "threshold",
            StateTable::Correlation => "correlation",
            StateTable::Silence => "silence",
            StateTable::Templates => "templates",
            StateTable::Baselines => "baselines",
            StateTable::AuditEvents => "audit_events",
        }
    }
}

/// What an engine holds and has evicted, per kind of per-key state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct EngineStats {
    /// Keys held now, by [`StateTable`] index.
    pub keys: [u64; StateTable::ALL.len()],
    /// Keys evicted from full tables so far, by [`StateTable`] index.
    pub evicted: [u64; StateTable::ALL.len()],
    /// Threshold crossings folded into a suppression instead of a new alert.
    pub suppressed: u64,
    /// Bytes of per-key state, all allocated at start.
    pub state_bytes: u64,
}

impl EngineStats {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Self) {
        for (a, b) in self.keys.iter_mut().zip(other.keys) {
            *a += b;
        }
        for (a, b) in self.evicted.iter_mut().zip(other.evicted) {
            *a += b;
        }
        self.suppressed += other.suppressed;
        self.state_bytes += other.state_bytes;
    }
}

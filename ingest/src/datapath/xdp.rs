//! Loading the embedded XDP program, attaching it, and talking to its maps.
//!
//! aya attaches through a `bpf_link`: when this process exits, crashed or not, the kernel
//! detaches the program, so no stale program is left steering packets to a dead socket.

use std::{net::IpAddr, os::fd::AsRawFd};

use aya::{
    Ebpf,
    maps::{
        Array, HashMap, MapData, PerCpuArray, XskMap,
        lpm_trie::{Key, LpmTrie},
    },
    programs::{Xdp, XdpMode, xdp::XdpLinkId},
};
use xdp_common::{
    COUNTERS_MAP, LOG_PORTS_MAP, SOURCE_DEFAULT_MAP, SOURCES_V4_MAP, SOURCES_V6_MAP,
    XDP_COUNTER_COUNT, XDP_PROGRAM, XSK_MAP, XdpCounter,
};

use crate::datapath::filter::{SourceFilter, SourcePrefix};

/// The XDP object built by `build.rs`.
fn object() -> &'static [u8] {
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xdp-ebpf"))
}

/// Which attach mode to ask for.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum AttachRequest {
    /// Native (driver) mode, falling back to generic mode with a warning.
    #[default]
    Auto,
    /// Native mode only.
    Native,
    /// Generic (skb) mode only.
    Generic,
}

/// The mode the program ended up attached in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttachMode {
    /// Run by the driver, before any skb exists.
    Native,
    /// Run by the kernel's generic hook, after skb allocation (slower, works everywhere).
    Generic,
}

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    /// The object could not be loaded (no BPF support, verifier rejection, missing privileges).
    #[error("loading the XDP object failed")]
    Load(#[from] aya::EbpfError),
    /// The object lacks a program or map this code expects: a build mismatch.
    #[error("the XDP object has no {0}")]
    Missing(&'static str),
    /// Verifying or attaching the program failed.
    #[error("XDP program on {iface}")]
    Program {
        /// Interface.
        iface: String,
        /// Cause.
        #[source]
        source: aya::programs::ProgramError,
    },
    /// Reading or writing a map failed.
    #[error("XDP map {map}")]
    Map {
        /// Map name.
        map: &'static str,
        /// Cause.
        #[source]
        source: aya::maps::MapError,
    },
    /// A queue index beyond what the XSKMAP holds.
    #[error("queue {0} is beyond the {max} queues the XSKMAP holds", max = xdp_common::MAX_QUEUES)]
    QueueOutOfRange(u32),
}

/// The loaded XDP program and its maps; once [`XdpSteering::attach`]ed, it steers. Dropping it
/// detaches the program.
///
/// Loading and attaching are two steps so that nothing reaches the wire half-configured: the
/// log ports, the source filter and every AF_XDP socket are in the maps before the program sees
/// its first packet.
#[derive(Debug)]
pub struct XdpSteering {
    ebpf: Ebpf,
    iface: String,
    link: Option<XdpLinkId>,
    mode: Option<AttachMode>,
}

impl XdpSteering {
    /// Loads and verifies the program for `iface`, and fills its log-port map and source filter.
    /// Nothing is attached yet.
    pub fn load(iface: &str, ports: &[u16], filter: &SourceFilter) -> Result<Self, XdpError> {
        let mut ebpf = Ebpf::load(object())?;
        {
            let map = ebpf
                .map_mut(LOG_PORTS_MAP)
                .ok_or(XdpError::Missing(LOG_PORTS_MAP))?;
            let mut log_ports: HashMap<&mut MapData, u16, u8> =
                HashMap::try_from(map).map_err(|source| map_err(LOG_PORTS_MAP, source))?;
            for &port in ports {
                log_ports
                    .insert(port, 1, 0)
                    .map_err(|source| map_err(LOG_PORTS_MAP, source))?;
            }
        }
        let mut steering = Self {
            ebpf,
            iface: iface.to_string(),
            link: None,
            mode: None,
        };
        steering.set_source_filter(filter)?;
        steering
            .program()?
            .load()
            .map_err(|e| steering.program_err(e))?;
        Ok(steering)
    }

    fn program_err(&self, source: aya::programs::ProgramError) -> XdpError {
        XdpError::Program {
            iface: self.iface.clone(),
            source,
        }
    }

    fn program(&mut self) -> Result<&mut Xdp, XdpError> {
        let iface = self.iface.clone();
        self.ebpf
            .program_mut(XDP_PROGRAM)
            .ok_or(XdpError::Missing(XDP_PROGRAM))?
            .try_into()
            .map_err(|source| XdpError::Program { iface, source })
    }

    /// Attaches the loaded program to the interface; from now on it steers. Returns the mode it
    /// runs in. Attaching twice is a no-op.
    pub fn attach(&mut self, request: AttachRequest) -> Result<AttachMode, XdpError> {
        if let Some(mode) = self.mode {
            return Ok(mode);
        }
        let iface = self.iface.clone();
        let program = self.program()?;
        let attached = match request {
            AttachRequest::Native => program
                .attach(&iface, XdpMode::Driver)
                .map(|l| (l, AttachMode::Native)),
            AttachRequest::Generic => program
                .attach(&iface, XdpMode::Skb)
                .map(|l| (l, AttachMode::Generic)),
            AttachRequest::Auto => match program.attach(&iface, XdpMode::Driver) {
                Ok(l) => Ok((l, AttachMode::Native)),
                Err(native) => {
                    tracing::warn!(
                        "native XDP attach on {iface} failed ({native}); falling back to generic \
                         mode, which runs after skb allocation and is much slower"
                    );
                    program
                        .attach(&iface, XdpMode::Skb)
                        .map(|l| (l, AttachMode::Generic))
                }
            },
        };
        let (link, mode) = attached.map_err(|e| self.program_err(e))?;
        self.link = Some(link);
        self.mode = Some(mode);
        Ok(mode)
    }

    /// Detaches the program: from now on every packet goes to the kernel (whose socket path
    /// takes the log ports). The maps stay readable, for the final counters.
    pub fn detach(&mut self) -> Result<(), XdpError> {
        self.mode = None;
        let Some(link) = self.link.take() else {
            return Ok(());
        };
        self.program()?
            .detach(link)
            .map_err(|e| self.program_err(e))
    }

    /// The interface the program is attached to.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// The attach mode in effect; none before [`XdpSteering::attach`] and after
    /// [`XdpSteering::detach`].
    pub fn mode(&self) -> Option<AttachMode> {
        self.mode
    }

    /// Puts an AF_XDP socket into the XSKMAP slot of its queue; from then on the program steers
    /// that queue's log packets to it instead of passing them to the kernel.
    pub fn register_socket(&mut self, queue: u32, socket: impl AsRawFd) -> Result<(), XdpError> {
        if queue >= xdp_common::MAX_QUEUES {
            return Err(XdpError::QueueOutOfRange(queue));
        }
        let map = self
            .ebpf
            .map_mut(XSK_MAP)
            .ok_or(XdpError::Missing(XSK_MAP))?;
        let mut xsks = XskMap::try_from(map).map_err(|source| map_err(XSK_MAP, source))?;
        xsks.set(queue, socket, 0)
            .map_err(|source| map_err(XSK_MAP, source))
    }

    /// Loads the source filter: the longest matching prefix's verdict applies to a log packet's
    /// sender; the filter's default applies when none matches.
    fn set_source_filter(&mut self, filter: &SourceFilter) -> Result<(), XdpError> {
        for prefix in filter.prefixes() {
            match prefix.addr {
                IpAddr::V4(addr) => self.insert_prefix(SOURCES_V4_MAP, prefix, addr.octets())?,
                IpAddr::V6(addr) => self.insert_prefix(SOURCES_V6_MAP, prefix, addr.octets())?,
            }
        }
        let map = self
            .ebpf
            .map_mut(SOURCE_DEFAULT_MAP)
            .ok_or(XdpError::Missing(SOURCE_DEFAULT_MAP))?;
        let mut default: Array<&mut MapData, u32> =
            Array::try_from(map).map_err(|source| map_err(SOURCE_DEFAULT_MAP, source))?;
        default
            .set(0, filter.default_verdict() as u32, 0)
            .map_err(|source| map_err(SOURCE_DEFAULT_MAP, source))
    }

    /// Inserts one prefix into the LPM trie `map`, whose keys hold `N` address bytes.
    fn insert_prefix<const N: usize>(
        &mut self,
        map: &'static str,
        prefix: &SourcePrefix,
        addr: [u8; N],
    ) -> Result<(), XdpError> {
        let data = self.ebpf.map_mut(map).ok_or(XdpError::Missing(map))?;
        let mut trie: LpmTrie<&mut MapData, [u8; N], u8> =
            LpmTrie::try_from(data).map_err(|source| map_err(map, source))?;
        let key = Key::new(u32::from(prefix.len), addr);
        trie.insert(&key, prefix.verdict as u8, 0)
            .map_err(|source| map_err(map, source))
    }

    /// The decision counters, summed over CPUs.
    pub fn counters(&self) -> Result<XdpCounters, XdpError> {
        let map = self
            .ebpf
            .map(COUNTERS_MAP)
            .ok_or(XdpError::Missing(COUNTERS_MAP))?;
        let counters: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(map).map_err(|source| map_err(COUNTERS_MAP, source))?;
        let mut out = XdpCounters::default();
        for counter in XdpCounter::ALL {
            let per_cpu = counters
                .get(&(counter as u32), 0)
                .map_err(|source| map_err(COUNTERS_MAP, source))?;
            out.values[counter as usize] = per_cpu.iter().sum();
        }
        Ok(out)
    }
}

fn map_err(map: &'static str, source: aya::maps::MapError) -> XdpError {
    XdpError::Map { map, source }
}

/// A snapshot of the XDP program's decision counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpCounters {
    values: [u64; XDP_COUNTER_COUNT as usize],
}

impl XdpCounters {
    /// One counter's value.
    pub fn get(&self, counter: XdpCounter) -> u64 {
        self.values[counter as usize]
    }

    /// Every frame the program saw.
    pub fn total(&self) -> u64 {
        self.values.iter().sum()
    }

    /// Each counter with its name, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (XdpCounter, u64)> + '_ {
        XdpCounter::ALL.into_iter().map(|c| (c, self.get(c)))
    }
}

impl serde::Serialize for XdpCounters {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.values.len()))?;
        for (counter, value) in self.iter() {
            map.serialize_entry(counter.name(), &value)?;
        }
        map.end()
    }
}

use super::*;
use detector::parse::{ParseOptions, parse};
use ingest::datapath::frame::decode_udp;
use std::net::Ipv4Addr;

fn small(seed: u64) -> Capture {
    generate(GenOptions {
        seed,
        messages: 20_000,
        rate: 1000.0,
        hosts: 200,
    })
}

#[test]
fn replayed_frames_go_to_the_new_receiver_unchanged_otherwise() {
    let cap = small(3);
    let to = Rewrite {
        src_mac: [2, 0, 0, 0, 0, 0xa],
        dst_mac: [2, 0, 0, 0, 0, 0xb],
        dst_v4: Ipv4Addr::new(198, 18, 0, 2),
        dst_v6: "2001:2::2".parse().unwrap(),
        dst_port: 5514,
        strip_vlan: false,
    };
    let (out, skipped) = rewrite(&cap.frames, &to);
    assert_eq!((out.len(), skipped), (cap.frames.len(), 0));
    let fragments = out.iter().filter(|(_, f)| decode_udp(f).is_err()).count();
    assert!(fragments > 0, "the long messages travel as fragments");
    for ((t0, before), (t1, after)) in cap.frames.iter().zip(&out) {
        assert_eq!(&after[..6], &to.dst_mac);
        let (Ok(a), Ok(b)) = (decode_udp(before), decode_udp(after)) else {
            assert_eq!(
                &before[12..],
                &after[12..],
                "a fragment keeps all but its MACs"
            );
            continue;
        };
        assert_eq!(
            (t0, a.src, a.vlan, a.payload),
            (t1, b.src, b.vlan, b.payload)
        );
        assert_eq!(b.dst.port(), 5514);
        assert_eq!(&after[..6], &to.dst_mac);
        match b.dst.ip() {
            IpAddr::V4(ip) => assert_eq!(ip, to.dst_v4),
            IpAddr::V6(ip) => assert_eq!(ip, to.dst_v6),
        }
    }
    let (_, skipped) = rewrite(&[(0, vec![0u8; 20])], &to);
    assert_eq!(skipped, 1);
}

#[test]
fn the_same_seed_gives_the_same_capture() {
    let (a, b, c) = (small(7), small(7), small(8));
    assert_eq!(a.frames, b.frames);
    assert_eq!(a.labels, b.labels);
    assert_ne!(a.frames, c.frames);
    let mut file = Vec::new();
    write_pcap(&mut file, &a.frames).unwrap();
    let back = read_pcap(&file).unwrap();
    assert_eq!(back.len(), a.frames.len());
    assert!(back.iter().zip(&a.frames).all(|(x, y)| x.1 == y.1));
    assert!(back.windows(2).all(|w| w[0].0 <= w[1].0), "in time order");
}

#[test]
fn the_traffic_is_mixed_heavy_tailed_and_labelled() {
    let cap = small(1);
    let mut formats = std::collections::BTreeMap::new();
    let mut per_sender = std::collections::HashMap::new();
    let (mut v6, mut tagged, mut fragments) = (0u32, 0u32, 0u32);
    let opts = ParseOptions::default();
    for (_, f) in &cap.frames {
        let Ok(d) = decode_udp(f) else {
            fragments += 1;
            continue;
        };
        let e = parse(d.payload, &opts);
        assert_eq!(e.error, None, "{}", String::from_utf8_lossy(d.payload));
        *formats.entry(e.format.name()).or_insert(0u32) += 1;
        *per_sender.entry(d.src.ip()).or_insert(0u32) += 1;
        v6 += u32::from(d.src.is_ipv6());
        tagged += u32::from(d.vlan.is_some());
    }
    assert!(formats.len() >= 2, "{formats:?}");
    assert!(v6 > 0 && tagged > 0, "{v6} over IPv6, {tagged} tagged");
    assert!(
        fragments >= 2 * 20,
        "about 40 long messages, 3 fragments each: {fragments}"
    );
    let long = cap.datagrams - (cap.frames.len() as u64 - u64::from(fragments));
    // Padded ones take three fragments, a few long corpus lines two.
    assert!(
        long > 10 && long * 2 <= u64::from(fragments),
        "{long} long datagrams in {fragments} fragments"
    );
    let mut counts: Vec<u32> = per_sender.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let top: u32 = counts.iter().take(counts.len() / 10).sum();
    let all: u32 = counts.iter().sum();
    assert!(
        top * 2 > all,
        "the loudest tenth sends most: {top} of {all}"
    );

    let kinds: Vec<&str> = cap.labels.iter().map(|l| l.kind.as_str()).collect();
    for k in [
        "silence",
        "brute_force",
        "sigma",
        "new_template",
        "rate_spike",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    // Each labelled burst is in the capture, as labelled.
    let has = |needle: &str| {
        cap.frames
            .iter()
            .filter(|(_, f)| {
                decode_udp(f).is_ok_and(|d| String::from_utf8_lossy(d.payload).contains(needle))
            })
            .count() as u64
    };
    for l in cap.labels.iter().filter(|l| l.injected) {
        match l.kind.as_str() {
            "brute_force" => assert_eq!(has(&format!("from {} port", l.key)), l.messages),
            // The first of its kind (the Shellshock attempts are five of one kind).
            "new_template" => assert!(has(&l.key) >= 1, "{l:?}"),
            _ => {}
        }
    }
    assert_eq!(has("() { :; };"), 5);
    // The silent host sends nothing after its label says it stopped.
    let silence = cap.labels.iter().find(|l| l.kind == "silence").unwrap();
    let after = cap
        .frames
        .iter()
        .filter(|(t, f)| {
            *t as f64 / 1e9 > silence.start_s
                && decode_udp(f).is_ok_and(|d| d.src.ip() == silence.sender)
        })
        .count();
    assert_eq!(after, 0);
    assert!(silence.start_s > 0.0 && silence.start_s < silence.end_s);
}

#[test]
fn captures_of_every_framing_read_back_as_ethernet_at_their_own_resolution() {
    use pcap_file::{
        DataLink, Endianness, TsResolution,
        pcap::{PcapHeader, PcapPacket, PcapWriter},
        pcapng::{
            PcapNgWriter,
            blocks::{
                enhanced_packet::EnhancedPacketBlock,
                interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption},
            },
        },
    };
    let cap = small(5);
    let (t, frame) = cap
        .frames
        .iter()
        .find(|(_, f)| f[12..14] == [0x08, 0x00])
        .unwrap();
    let ip = &frame[14..];
    let t = std::time::Duration::from_nanos(1_795_341_600_000_000_000 + t);

    // Raw IP, and BSD loopback, in big-endian classic pcaps with microsecond stamps.
    for (link, data) in [
        (DataLink::RAW, ip.to_vec()),
        (DataLink::NULL, [&2u32.to_le_bytes()[..], ip].concat()),
    ] {
        let mut file = Vec::new();
        let header = PcapHeader {
            datalink: link,
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::Big,
            ..PcapHeader::default()
        };
        let mut w = PcapWriter::with_header(&mut file, header).unwrap();
        w.write_packet(&PcapPacket::new(t, data.len() as u32, &data))
            .unwrap();
        let back = read_pcap(&file).unwrap();
        assert_eq!(back[0].1[12..], frame[12..], "{link:?}");
        assert_eq!(back[0].0 / 1000, t.as_nanos() as u64 / 1000, "{link:?}");
    }

    // pcapng: one Ethernet interface at nanoseconds (if_tsresol 9), one raw IP interface at the
    // default microseconds; each packet timed and framed by its own interface.
    let mut file = Vec::new();
    let mut w = PcapNgWriter::new(&mut file).unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0,
        options: vec![InterfaceDescriptionOption::IfTsResol(9)],
    })
    .unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::RAW,
        snaplen: 0,
        options: vec![],
    })
    .unwrap();
    for (interface_id, raw, data) in [
        (0, t, frame.clone()),
        (
            1,
            std::time::Duration::from_nanos(t.as_micros() as u64),
            ip.to_vec(),
        ),
    ] {
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id,
            timestamp: raw,
            original_len: data.len() as u32,
            data: data.into(),
            options: vec![],
        })
        .unwrap();
    }
    let back = read_pcap(&file).unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back[0], (t.as_nanos() as u64, frame.clone()));
    assert_eq!(back[1].1[12..], frame[12..]);
    assert_eq!(back[1].0, t.as_micros() as u64 * 1000);

    // A link type with no Ethernet form is named.
    let mut file = Vec::new();
    let header = PcapHeader {
        datalink: DataLink::IEEE802_11,
        ..PcapHeader::default()
    };
    PcapWriter::with_header(&mut file, header)
        .unwrap()
        .write_packet(&PcapPacket::new(t, 4, &[0; 4]))
        .unwrap();
    let err = read_pcap(&file).unwrap_err();
    assert!(err.to_string().contains("IEEE802_11"), "{err}");
}

use super::*;

#[test]
fn only_errors_that_mean_not_now_go_uncounted() {
    for errno in [
        libc::EAGAIN,
        libc::EBUSY,
        libc::ENOBUFS,
        libc::ENETDOWN,
        libc::EINTR,
    ] {
        assert!(transient(&io::Error::from_raw_os_error(errno)), "{errno}");
    }
    for errno in [libc::EBADF, libc::ENXIO, libc::EINVAL, libc::EFAULT] {
        assert!(!transient(&io::Error::from_raw_os_error(errno)), "{errno}");
    }
    assert!(!transient(&io::Error::other("no errno")));
}

fn stamped(arrival_ns: u64, magic: u32, frame: &[u8]) -> Vec<u8> {
    let mut bytes = arrival_ns.to_ne_bytes().to_vec();
    bytes.extend_from_slice(&magic.to_ne_bytes());
    bytes.extend_from_slice(&0u32.to_ne_bytes());
    bytes.extend_from_slice(frame);
    bytes
}

#[test]
fn a_stamped_frame_gives_its_arrival_time_and_the_frame_behind_it() {
    let frame = [0xaa; 60];
    let bytes = stamped(0x0102_0304_0506_0708, XDP_META_MAGIC, &frame);
    assert_eq!(
        take_arrival(&bytes),
        (Some(0x0102_0304_0506_0708), &frame[..])
    );
}

#[test]
fn a_frame_without_the_stamp_is_read_whole_without_a_time() {
    let bytes = stamped(7, XDP_META_MAGIC ^ 1, &[0xbb; 60]);
    assert_eq!(take_arrival(&bytes), (None, &bytes[..]));
    let short = [0u8; XDP_META_LEN - 1];
    assert_eq!(take_arrival(&short), (None, &short[..]));
}

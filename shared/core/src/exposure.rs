//! Who can reach an address range: CIDRs parsed and normalised, merged, and measured against the
//! public address space. A security group is open to the world when the ranges allowed to reach
//! a port cover a large share of the public Internet, however they are spelled: `0.0.0.0/0`,
//! `0.0.0.0/1` + `128.0.0.0/1`, 256 `/8` rules, `::0/0` or the long IPv6 form.

use std::net::{Ipv4Addr, Ipv6Addr};

/// An address block as a closed interval; IPv4 addresses in the low 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cidr {
    pub v6: bool,
    pub lo: u128,
    pub hi: u128,
}

/// Reads `a.b.c.d/n` or an IPv6 block, in any spelling the standard parsers take (`::0`, the
/// long form), with host bits set or not (they are masked off) and leading zeros in the prefix
/// length. `None` for anything else.
pub fn parse(text: &str) -> Option<Cidr> {
    let text = text.trim();
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let prefix = match prefix {
        Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u32>().ok()?)
        }
        Some(_) => return None,
        None => None,
    };
    if let Ok(a) = addr.parse::<Ipv4Addr>() {
        let bits = prefix.unwrap_or(32);
        if bits > 32 {
            return None;
        }
        // A /32 has no host bits (and `>> 32` would overflow).
        let host = u32::MAX.checked_shr(bits).unwrap_or(0);
        let lo = u32::from(a) & !host;
        return Some(Cidr {
            v6: false,
            lo: u128::from(lo),
            hi: u128::from(lo | host),
        });
    }
    let a = addr.parse::<Ipv6Addr>().ok()?;
    let bits = prefix.unwrap_or(128);
    if bits > 128 {
        return None;
    }
    let host = u128::MAX.checked_shr(bits).unwrap_or(0);
    let lo = u128::from(a) & !host;
    Some(Cidr {
        v6: true,
        lo,
        hi: lo | host,
    })
}

/// IPv4 blocks that are not the public Internet (RFC 6890 special-purpose registry: this
/// network, private, shared, loopback, link-local, protocol assignments, documentation,
/// benchmarking, multicast, reserved and broadcast), sorted and disjoint.
const V4_NOT_PUBLIC: &[(u32, u8)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8
    (0x0A00_0000, 8),  // 10.0.0.0/8
    (0x6440_0000, 10), // 100.64.0.0/10
    (0x7F00_0000, 8),  // 127.0.0.0/8
    (0xA9FE_0000, 16), // 169.254.0.0/16
    (0xAC10_0000, 12), // 172.16.0.0/12
    (0xC000_0000, 24), // 192.0.0.0/24
    (0xC000_0200, 24), // 192.0.2.0/24
    (0xC0A8_0000, 16), // 192.168.0.0/16
    (0xC612_0000, 15), // 198.18.0.0/15
    (0xC633_6400, 24), // 198.51.100.0/24
    (0xCB00_7100, 24), // 203.0.113.0/24
    (0xE000_0000, 3),  // 224.0.0.0/4 and 240.0.0.0/4
];

/// The public IPv6 Internet: the global unicast blocks IANA has allocated to the regional
/// registries (and 2001::/16, from which IANA assigns). Most of 2000::/3 is unallocated:
/// measured against all of it, a range covering every routed address was about 1% of it.
/// Sorted and disjoint.
const V6_PUBLIC: &[(u16, u8)] = &[
    (0x2001, 16),
    (0x2003, 18),
    (0x2400, 12),
    (0x2600, 12),
    (0x2610, 23),
    (0x2620, 23),
    (0x2630, 12),
    (0x2800, 12),
    (0x2a00, 12),
    (0x2a10, 12),
    (0x2c00, 12),
];

fn overlap(a: (u128, u128), b: (u128, u128)) -> u128 {
    let (lo, hi) = (a.0.max(b.0), a.1.min(b.1));
    if lo > hi {
        0
    } else {
        hi - lo + 1
    }
}

/// Public addresses in `[lo, hi]` (within one family).
fn public_in(v6: bool, lo: u128, hi: u128) -> u128 {
    if v6 {
        return V6_PUBLIC
            .iter()
            .map(|&(start, bits)| {
                let start = u128::from(start) << 112;
                overlap((lo, hi), (start, start + (1u128 << (128 - bits)) - 1))
            })
            .sum();
    }
    let all = hi - lo + 1;
    let special: u128 = V4_NOT_PUBLIC
        .iter()
        .map(|&(start, bits)| {
            let start = u128::from(start);
            overlap((lo, hi), (start, start + (1u128 << (32 - bits)) - 1))
        })
        .sum();
    all - special
}

/// The number of public addresses of a family.
pub fn public_total(v6: bool) -> u128 {
    if v6 {
        public_in(true, 0, u128::MAX)
    } else {
        public_in(false, 0, u128::from(u32::MAX))
    }
}

impl Cidr {
    pub fn public(&self) -> u128 {
        public_in(self.v6, self.lo, self.hi)
    }
}

/// Public addresses covered by the union of `blocks` of one family (overlaps counted once).
pub fn public_union(v6: bool, blocks: &mut [Cidr]) -> u128 {
    blocks.sort_unstable();
    let mut total = 0;
    let mut open: Option<(u128, u128)> = None;
    for b in blocks.iter().filter(|b| b.v6 == v6) {
        match open {
            Some((lo, hi)) if b.lo <= hi.saturating_add(1) => open = Some((lo, hi.max(b.hi))),
            Some((lo, hi)) => {
                total += public_in(v6, lo, hi);
                open = Some((b.lo, b.hi));
            }
            None => open = Some((b.lo, b.hi)),
        }
    }
    if let Some((lo, hi)) = open {
        total += public_in(v6, lo, hi);
    }
    total
}

/// The default policy's `[exposure]`: one range of at least 0.39% of a family's public
/// addresses (a public IPv4 /8, an IPv6 /17 of the registries' blocks), or ranges covering
/// more than half of them together.
pub const DEFAULT_RANGE_PERCENT: f64 = 0.39;
pub const DEFAULT_UNION_PERCENT: f64 = 50.0;

/// When ranges count as the whole Internet: the policy's `[exposure]`, as fractions.
#[derive(Debug, Clone, Copy)]
pub struct WorldShare {
    /// One range covering at least this share of a family's public addresses.
    pub range: f64,
    /// All the ranges together covering more than this share.
    pub union: f64,
}

impl Default for WorldShare {
    fn default() -> Self {
        WorldShare {
            range: DEFAULT_RANGE_PERCENT / 100.0,
            union: DEFAULT_UNION_PERCENT / 100.0,
        }
    }
}

impl WorldShare {
    pub fn wide(&self, c: &Cidr) -> bool {
        share(c.public(), c.v6) >= self.range
    }

    /// Whether `blocks` (any families) open a port to the world, family by family.
    pub fn world(&self, blocks: &[Cidr]) -> bool {
        if blocks.iter().any(|c| self.wide(c)) {
            return true;
        }
        [false, true].into_iter().any(|v6| {
            let mut family: Vec<Cidr> = blocks.iter().filter(|c| c.v6 == v6).copied().collect();
            !family.is_empty() && share(public_union(v6, &mut family), v6) > self.union
        })
    }
}

fn share(count: u128, v6: bool) -> f64 {
    count as f64 / public_total(v6) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: WorldShare = WorldShare {
        range: 0.0039,
        union: 0.5,
    };

    fn c(s: &str) -> Cidr {
        parse(s).unwrap_or_else(|| panic!("{s} parses"))
    }

    #[test]
    fn every_spelling_of_everything_is_everything() {
        for s in [
            "0.0.0.0/0",
            "0.0.0.0/00",
            "0.0.0.0/000",
            " 0.0.0.0/0 ",
            "1.2.3.4/0",
            "::/0",
            "::0/0",
            "0:0:0:0:0:0:0:0/0",
            "0000:0000:0000:0000:0000:0000:0000:0000/0",
            "::/000",
        ] {
            assert!(DEFAULT.world(&[c(s)]), "{s}");
        }
    }

    #[test]
    fn halves_and_slices_add_up_to_the_world() {
        assert!(DEFAULT.world(&[c("0.0.0.0/1"), c("128.0.0.0/1")]));
        assert!(DEFAULT.world(&[c("::/1"), c("8000::/1")]));
        let eights: Vec<Cidr> = (0..=255).map(|i| c(&format!("{i}.0.0.0/8"))).collect();
        assert!(DEFAULT.world(&eights));
        // A public /8 alone is a wide range; half of the slices together too.
        assert!(DEFAULT.world(&[c("11.0.0.0/8")]));
        let ninths: Vec<Cidr> = (0..=255)
            .flat_map(|i| [c(&format!("{i}.0.0.0/9")), c(&format!("{i}.128.0.0/9"))])
            .collect();
        assert!(!ninths.iter().any(|n| DEFAULT.wide(n)));
        assert!(!DEFAULT.world(&ninths[..40]));
        assert!(DEFAULT.world(&ninths));
        // IPv6: a registry's block, or the registries' blocks together, are the world; a
        // provider's /20 is not.
        assert!(DEFAULT.world(&[c("2600::/12")]));
        assert!(DEFAULT.world(&[c("2a00::/13")]));
        assert!(DEFAULT.world(&[c("2a00::/17")]));
        assert!(!DEFAULT.world(&[c("2a00::/18")]));
        assert!(DEFAULT.world(&[c("2000::/3")]));
        let registries: Vec<Cidr> = [
            "2001::/16",
            "2003::/18",
            "2400::/12",
            "2600::/12",
            "2800::/12",
            "2a00::/12",
            "2a10::/12",
            "2c00::/12",
        ]
        .iter()
        .map(|s| c(s))
        .collect();
        assert!(DEFAULT.world(&registries));
    }

    #[test]
    fn private_reserved_and_small_ranges_are_not_the_world() {
        for s in [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "127.0.0.0/8",
            "224.0.0.0/3",
            "100.64.0.0/10",
            "203.0.113.0/24",
            "52.94.76.0/22",
            "fc00::/7",
            "fe80::/10",
            "2001:db8::/32",
        ] {
            assert!(!DEFAULT.world(&[c(s)]), "{s}");
        }
        let private = [c("10.0.0.0/8"), c("172.16.0.0/12"), c("192.168.0.0/16")];
        assert!(!DEFAULT.world(&private));
    }

    #[test]
    fn host_bits_are_masked_and_nonsense_is_refused() {
        assert_eq!(c("10.1.2.3/8"), c("10.0.0.0/8"));
        assert_eq!(c("10.1.2.3"), c("10.1.2.3/32"));
        for s in [
            "",
            "/0",
            "0.0.0.0/",
            "0.0.0.0/33",
            "0.0.0.0/-1",
            "0.0.0.0/+0",
            "0.0.0.0/0000",
            "::/129",
            "256.0.0.0/8",
            "0.0.0.0/0/0",
            "everything",
            "0x0.0.0.0/0",
        ] {
            assert!(parse(s).is_none(), "{s}");
        }
    }

    #[test]
    fn overlaps_are_counted_once() {
        let mut v = vec![c("0.0.0.0/1"), c("0.0.0.0/2"), c("64.0.0.0/2")];
        let once = public_union(false, &mut v);
        let mut half = vec![c("0.0.0.0/1")];
        assert_eq!(once, public_union(false, &mut half));
        assert!(once < public_total(false));
    }
}

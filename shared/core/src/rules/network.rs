//! Exposure through the network: security groups and EC2 instances.

use std::fmt::Write as _;

use serde_json::Value;

use super::RuleInputs;
use super::{Finding, FindingClass, KrampusRemedy, Remedy, Rule, RuleInfo, Severity};
use crate::exposure::{self, Cidr, WorldShare};
use crate::item::ConfigItem;
use crate::json::{self, FieldError};

const SG: &[&str] = &["AWS::EC2::SecurityGroup"];

/// The protocol of an ingress permission, as EC2 writes it (a name or an IANA number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    /// `-1`: every protocol and port.
    All,
    Tcp,
    Udp,
    /// ICMP and ICMPv6: no ports; an open ping is not scored.
    Icmp,
    /// Any other protocol (SCTP, ESP, GRE…): EC2 opens it on every port.
    Other(u8),
}

fn proto_of(text: &str) -> Option<Proto> {
    let number = |n: u8| match n {
        6 => Proto::Tcp,
        17 => Proto::Udp,
        1 | 58 => Proto::Icmp,
        n => Proto::Other(n),
    };
    Some(match text.trim().to_ascii_lowercase().as_str() {
        "-1" | "all" => Proto::All,
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        "icmp" | "icmpv6" => Proto::Icmp,
        "sctp" => Proto::Other(132),
        "esp" => Proto::Other(50),
        "ah" => Proto::Other(51),
        "gre" => Proto::Other(47),
        n if n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty() => number(n.parse().ok()?),
        _ => return None,
    })
}

/// One ingress permission with the address ranges it admits (referenced groups and prefix
/// lists are not the Internet and are not read).
#[derive(Debug)]
struct Permission {
    proto_text: String,
    proto: Proto,
    from: Option<i64>,
    to: Option<i64>,
    /// The ranges as written, with their parsed blocks.
    ranges: Vec<(String, Cidr)>,
}

impl Permission {
    /// The TCP or UDP ports it opens (all for `-1`, for absent or negative bounds).
    fn ports(&self) -> (u32, u32) {
        match (self.proto, self.from, self.to) {
            (Proto::Tcp | Proto::Udp, Some(f), Some(t)) if f >= 0 && t >= 0 => {
                let (f, t) = (f.min(65535) as u32, t.min(65535) as u32);
                (f.min(t), f.max(t))
            }
            _ => (0, 65535),
        }
    }

    fn describe(&self, cidrs: &[&str]) -> String {
        let ports = match (self.proto, self.from, self.to) {
            (Proto::All, _, _) => "all traffic".to_owned(),
            (Proto::Tcp | Proto::Udp, Some(f), Some(t)) if f >= 0 && f == t => {
                format!("{}/{f}", self.proto_text)
            }
            (Proto::Tcp | Proto::Udp, Some(f), Some(t)) if f >= 0 && t >= 0 => {
                format!("{}/{f}-{t}", self.proto_text)
            }
            _ => format!("{} (all ports)", self.proto_text),
        };
        format!("{ports} open to {}", cidrs.join(", "))
    }
}

/// The ingress permissions of a group, reading the legacy `ipRanges` strings as well as
/// `ipv4Ranges` / `ipv6Ranges`. A range that is not a CIDR is an error: the item is not
/// scored rather than read as closed.
fn permissions(item: &ConfigItem) -> Result<Vec<Permission>, FieldError> {
    let perms = json::opt_array(item.config("ipPermissions"), "ipPermissions")?;
    let mut out = Vec::with_capacity(perms.len());
    for (i, p) in perms.iter().enumerate() {
        let field = |k: &str| format!("ipPermissions[{i}].{k}");
        let mut ranges: Vec<(String, Cidr)> = Vec::new();
        let mut add = |text: &str, what: &str| -> Result<(), FieldError> {
            let cidr = exposure::parse(text).ok_or_else(|| {
                FieldError::new(field(what), "a CIDR block", &Value::String(text.into()))
            })?;
            let text = text.trim();
            if !ranges.iter().any(|(t, _)| t == text) {
                ranges.push((text.to_owned(), cidr));
            }
            Ok(())
        };
        for r in json::opt_array(p.get("ipRanges"), &field("ipRanges"))? {
            match r {
                Value::String(c) => add(c, "ipRanges[]")?,
                Value::Object(_) => {
                    if let Some(c) = json::opt_str(r.get("cidrIp"), &field("ipRanges[].cidrIp"))? {
                        add(c, "ipRanges[].cidrIp")?
                    }
                }
                other => return Err(FieldError::new(field("ipRanges[]"), "a CIDR", other)),
            }
        }
        // Objects with `cidrIp` / `cidrIpv6` as Config writes them; a bare string is read as
        // the range it is; anything else is an error, never a range that admits nobody.
        for (list, key) in [("ipv4Ranges", "cidrIp"), ("ipv6Ranges", "cidrIpv6")] {
            let what = format!("{list}[].{key}");
            for r in json::opt_array(p.get(list), &field(list))? {
                match r {
                    Value::String(c) => add(c, &format!("{list}[]"))?,
                    Value::Object(_) => match json::opt_str(r.get(key), &field(&what))? {
                        Some(c) => add(c, &what)?,
                        None => {
                            return Err(FieldError::new(field(&what), "a CIDR block", &Value::Null))
                        }
                    },
                    other => {
                        return Err(FieldError::new(
                            field(&format!("{list}[]")),
                            "a range",
                            other,
                        ))
                    }
                }
            }
        }
        if ranges.iter().all(|(_, c)| c.public() == 0) {
            continue;
        }
        let proto_text = match p.get("ipProtocol") {
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && (-1.0..=255.0).contains(&f) => {
                    (f as i64).to_string()
                }
                _ => n.to_string(),
            },
            other => {
                return Err(FieldError::new(
                    field("ipProtocol"),
                    "a protocol",
                    other.unwrap_or(&Value::Null),
                ))
            }
        };
        let proto = proto_of(&proto_text).ok_or_else(|| {
            FieldError::new(
                field("ipProtocol"),
                "a protocol name or number",
                &Value::String(proto_text.clone()),
            )
        })?;
        out.push(Permission {
            proto_text,
            proto,
            from: json::opt_int(p.get("fromPort"), &field("fromPort"))?,
            to: json::opt_int(p.get("toPort"), &field("toPort"))?,
            ranges,
        });
    }
    Ok(out)
}

/// Which exposure rule a permission's world-open part belongs to: the highest class among the
/// ports it opens, so that one permission counts once (tcp 1024-65535 covers VNC and
/// PostgreSQL alike, and is scored as the admin exposure it is, like tcp 0-65535 is as all
/// traffic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    AllTraffic,
    Admin,
    Database,
    Other,
}

/// Ports `[lo, hi]` of one protocol open to the world, and the permissions whose ranges make
/// it so.
struct WorldPorts {
    lo: u32,
    hi: u32,
    by: Vec<usize>,
}

/// For TCP or UDP: the port intervals whose admitted ranges, all permissions together, are the
/// world. The ports are cut at every permission's bounds, so a range split over several
/// permissions (0.0.0.0/1 in one, 128.0.0.0/1 in another) is seen whole.
fn world_ports(
    perms: &[Permission],
    proto: Proto,
    share: &WorldShare,
    skip: &dyn Fn(&Cidr) -> bool,
) -> Vec<WorldPorts> {
    let covering: Vec<(usize, (u32, u32))> = perms
        .iter()
        .enumerate()
        .filter(|(_, p)| p.proto == proto || p.proto == Proto::All)
        .map(|(i, p)| (i, p.ports()))
        .collect();
    // Reach only grows with ranges: when all of them together are not the world, no port is
    // (the common case, settled without cutting the ports).
    let all: Vec<Cidr> = covering
        .iter()
        .flat_map(|(i, _)| perms[*i].ranges.iter().map(|(_, c)| *c))
        .filter(|c| !skip(c))
        .collect();
    if all.is_empty() || !share.world(&all) {
        return Vec::new();
    }
    let mut cuts: Vec<u32> = covering
        .iter()
        .flat_map(|(_, (lo, hi))| [*lo, hi + 1])
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<WorldPorts> = Vec::new();
    let mut blocks = Vec::new();
    for w in cuts.windows(2) {
        let (lo, hi) = (w[0], w[1] - 1);
        blocks.clear();
        let mut by = Vec::new();
        for (i, (plo, phi)) in &covering {
            if *plo <= lo && hi <= *phi {
                let before = blocks.len();
                blocks.extend(
                    perms[*i]
                        .ranges
                        .iter()
                        .map(|(_, c)| *c)
                        .filter(|c| !skip(c)),
                );
                if blocks.len() > before {
                    by.push(*i);
                }
            }
        }
        if !blocks.is_empty() && share.world(&blocks) {
            out.push(WorldPorts { lo, hi, by });
        }
    }
    out
}

/// Whether `[lo, hi]` holds one of `ports`.
fn holds(lo: u32, hi: u32, ports: &[u16]) -> bool {
    ports.iter().any(|p| (lo..=hi).contains(&u32::from(*p)))
}

/// A permission open to the world: the one rule class it counts for, and the families
/// (IPv4, IPv6) of its ranges that make it so.
#[derive(Debug)]
struct WorldPermission {
    index: usize,
    class: Class,
    families: [bool; 2],
}

/// The permissions open to the world. IPv4 and IPv6 are read apart: an IPv6 rule open to all
/// traffic does not make an IPv4 web rule part of it.
fn world_permissions(
    perms: &[Permission],
    policy: &RuleInputs<'_>,
    skip: &dyn Fn(&Cidr) -> bool,
) -> Vec<WorldPermission> {
    let share = policy.exposure.share();
    let mut found: Vec<Option<(Class, [bool; 2])>> = vec![None; perms.len()];
    let mut raise = |i: usize, c: Class, v6: bool| {
        // Lower is stronger: AllTraffic, Admin, Database, Other.
        let entry = found[i].get_or_insert((c, [false; 2]));
        if (c as u8) < (entry.0 as u8) {
            entry.0 = c;
        }
        entry.1[usize::from(v6)] = true;
    };
    let ports = &policy.ports;
    for v6 in [false, true] {
        let family = |c: &Cidr| c.v6 != v6 || skip(c);
        for proto in [Proto::Tcp, Proto::Udp] {
            let open = world_ports(perms, proto, &share, &family);
            let full = {
                let mut next = 1u32;
                for w in &open {
                    if w.lo <= next && w.hi >= next {
                        next = w.hi + 1;
                    }
                }
                next > 65535
            };
            for w in &open {
                // Web ports open to the world are normal: never charged to a rule, even when
                // other rules open everything else.
                if (w.lo..=w.hi).all(|p| ports.web.iter().any(|x| u32::from(*x) == p)) {
                    continue;
                }
                let c = if full {
                    Class::AllTraffic
                } else if holds(w.lo, w.hi, &ports.admin) {
                    Class::Admin
                } else if holds(w.lo, w.hi, &ports.database) {
                    Class::Database
                } else {
                    Class::Other
                };
                for i in &w.by {
                    raise(*i, c, v6);
                }
            }
        }
        // Protocols EC2 opens on every port: each on its own ranges (a `-1` permission open to
        // the world is all TCP traffic already).
        for (i, p) in perms.iter().enumerate() {
            if let Proto::Other(n) = p.proto {
                let blocks: Vec<Cidr> = perms
                    .iter()
                    .filter(|q| q.proto == Proto::Other(n))
                    .flat_map(|q| q.ranges.iter().map(|(_, c)| *c))
                    .filter(|c| !family(c))
                    .collect();
                if p.ranges.iter().any(|(_, c)| !family(c)) && share.world(&blocks) {
                    raise(i, Class::Other, v6);
                }
            }
        }
    }
    found
        .into_iter()
        .enumerate()
        .filter_map(|(index, f)| {
            f.map(|(class, families)| WorldPermission {
                index,
                class,
                families,
            })
        })
        .collect()
}

/// A group reaches something when it is attached to anything but its VPC or other groups.
/// Relationships that were not recorded (a back-filled item) are unknown, not "nothing".
fn group_is_attached(item: &ConfigItem) -> bool {
    !item.relationships_known
        || item.relationships.iter().any(|r| {
            r.resource_type != "AWS::EC2::VPC" && r.resource_type != "AWS::EC2::SecurityGroup"
        })
}

/// Shared body of the security-group rules: the permissions open to the world whose class
/// is `class`, with the ranges to revoke: a permission's wide ranges (`0.0.0.0/0`, not the
/// office /32 beside it), and every public range of a permission whose narrower ranges add up
/// to the world without the wide ones.
/// A security group's permissions and which are open to the world, read once per item for the
/// four rules that report them (`RuleInputs::memo`).
#[derive(Debug)]
pub struct SgOpen {
    perms: Vec<Permission>,
    open: Vec<WorldPermission>,
    /// Without the wide ranges, which permissions still make a family open: those lose every
    /// public range of it; the others only their wide ones.
    rest: Vec<WorldPermission>,
}

impl SgOpen {
    fn of(item: &ConfigItem, policy: &RuleInputs<'_>) -> Result<SgOpen, FieldError> {
        let perms = permissions(item)?;
        let open = world_permissions(&perms, policy, &|_| false);
        let rest = if open.is_empty() {
            Vec::new()
        } else {
            let share = policy.exposure.share();
            world_permissions(&perms, policy, &|c: &Cidr| share.wide(c))
        };
        Ok(SgOpen { perms, open, rest })
    }
}

fn sg_finding(
    info: &'static RuleInfo,
    item: &ConfigItem,
    policy: &RuleInputs<'_>,
    out: &mut Vec<Finding>,
    class: Class,
) -> Result<(), FieldError> {
    let sg = policy
        .memo
        .sg
        .get_or_init(|| SgOpen::of(item, policy))
        .as_ref()
        .map_err(Clone::clone)?;
    let (perms, open, rest) = (&sg.perms, &sg.open, &sg.rest);
    let hits: Vec<&WorldPermission> = open.iter().filter(|w| w.class == class).collect();
    if hits.is_empty() {
        return Ok(());
    }
    let share = policy.exposure.share();
    let wide = |c: &Cidr| share.wide(c);
    let still_open = |i: usize, v6: bool| {
        rest.iter()
            .any(|w| w.index == i && w.families[usize::from(v6)])
    };
    let mut evidence = String::new();
    let mut remedies = Vec::new();
    for (n, w) in hits.iter().enumerate() {
        let p = &perms[w.index];
        let charged = |c: &Cidr| c.public() > 0 && w.families[usize::from(c.v6)];
        if n > 0 {
            evidence.push_str("; ");
        }
        let shown: Vec<&str> = p
            .ranges
            .iter()
            .filter(|(_, c)| charged(c))
            .map(|(t, _)| t.as_str())
            .collect();
        evidence.push_str(&p.describe(&shown));
        remedies.extend(
            p.ranges
                .iter()
                .filter(|(_, c)| charged(c) && (wide(c) || still_open(w.index, c.v6)))
                .map(|(text, _)| Remedy::RevokeIngress {
                    proto: p.proto_text.clone(),
                    from_port: p.from,
                    to_port: p.to,
                    cidr: text.clone(),
                }),
        );
    }
    let attached = group_is_attached(item);
    if !attached {
        evidence.push_str(" (group attached to nothing)");
    }
    let mut f = info.finding(evidence);
    f.remedies = remedies;
    f.reachable = attached;
    out.push(f);
    Ok(())
}

/// The four classes of a security group open to the world: one rule each, one evaluation.
pub struct SgWorld {
    info: &'static RuleInfo,
    class: Class,
}

impl Rule for SgWorld {
    fn info(&self) -> &'static RuleInfo {
        self.info
    }
    fn evaluate(
        &self,
        item: &ConfigItem,
        policy: &RuleInputs<'_>,
        out: &mut Vec<Finding>,
    ) -> Result<(), FieldError> {
        sg_finding(self.info, item, policy, out, self.class)
    }
}

static SG_ALL: RuleInfo = RuleInfo {
    id: "sg-world-all-traffic",
    class: FindingClass::Exposure,
    severity: Severity::Critical,
    resource_types: SG,
    checks: "A security group allows all traffic (every protocol, or every TCP/UDP port) from the whole Internet: any range as wide as policy `exposure.range_percent` of the public addresses (0.0.0.0/0, ::/0, a public /8…), or ranges adding up to `exposure.union_percent` (0.0.0.0/1 + 128.0.0.0/1…).",
    remediation: "Remove the ingress rule and allow only the ports and source ranges the workload needs.",
    krampus: KrampusRemedy::RevokeIngressRule,
};
pub static SG_ALL_RULE: SgWorld = SgWorld {
    info: &SG_ALL,
    class: Class::AllTraffic,
};

static SG_ADMIN: RuleInfo = RuleInfo {
    id: "sg-world-admin-ports",
    class: FindingClass::Exposure,
    severity: Severity::Critical,
    resource_types: SG,
    checks: "A security group opens a remote-administration port (SSH, RDP, WinRM, VNC, telnet; policy `ports.admin`) to the whole Internet (as in sg-world-all-traffic). A rule counts for one class only, the highest it covers: admin, then database, then other.",
    remediation: "Restrict the rule to your corporate or VPN ranges, or use SSM Session Manager instead of open admin ports.",
    krampus: KrampusRemedy::RevokeIngressRule,
};
pub static SG_ADMIN_RULE: SgWorld = SgWorld {
    info: &SG_ADMIN,
    class: Class::Admin,
};

static SG_DB: RuleInfo = RuleInfo {
    id: "sg-world-database-ports",
    class: FindingClass::Exposure,
    severity: Severity::Critical,
    resource_types: SG,
    checks: "A security group opens a database or cache port (policy `ports.database`), and no admin port, to the whole Internet (as in sg-world-all-traffic).",
    remediation: "Allow the database port only from the application's security group or private ranges.",
    krampus: KrampusRemedy::RevokeIngressRule,
};
pub static SG_DB_RULE: SgWorld = SgWorld {
    info: &SG_DB,
    class: Class::Database,
};

static SG_OTHER: RuleInfo = RuleInfo {
    id: "sg-world-other-ports",
    class: FindingClass::Exposure,
    severity: Severity::High,
    resource_types: SG,
    checks: "A security group opens a port that is neither web (policy `ports.web`), admin nor database, or a protocol other than TCP, UDP and ICMP (SCTP, ESP, GRE…), to the whole Internet (as in sg-world-all-traffic).",
    remediation: "Put the service behind a load balancer or restrict the source range.",
    krampus: KrampusRemedy::RevokeIngressRule,
};
pub static SG_OTHER_RULE: SgWorld = SgWorld {
    info: &SG_OTHER,
    class: Class::Other,
};

pub struct Ec2PublicImdsV1;
static EC2_IMDS: RuleInfo = RuleInfo {
    id: "ec2-public-ip-imdsv1",
    class: FindingClass::Hygiene,
    severity: Severity::High,
    resource_types: &["AWS::EC2::Instance"],
    checks: "An EC2 instance has a public IP address and still accepts IMDSv1 (metadata `httpTokens` is `optional`), the path of SSRF credential theft.",
    remediation: "Require IMDSv2 (`aws ec2 modify-instance-metadata-options --http-tokens required`) or remove the public address.",
    krampus: KrampusRemedy::ResourceAction,
};
impl Rule for Ec2PublicImdsV1 {
    fn info(&self) -> &'static RuleInfo {
        &EC2_IMDS
    }
    fn evaluate(
        &self,
        item: &ConfigItem,
        _: &RuleInputs<'_>,
        out: &mut Vec<Finding>,
    ) -> Result<(), FieldError> {
        let ip = json::opt_str(item.config("publicIpAddress"), "publicIpAddress")?;
        let Some(ip) = ip.filter(|s| !s.is_empty()) else {
            return Ok(());
        };
        // Absent metadata options (old items) mean "unknown", not IMDSv1.
        let tokens = match item.config("metadataOptions") {
            Some(m) => json::opt_str(m.get("httpTokens"), "metadataOptions.httpTokens")?,
            None => None,
        };
        if tokens != Some("optional") {
            return Ok(());
        }
        let state = match item.config("state") {
            Some(s) => json::opt_str(s.get("name"), "state.name")?,
            None => None,
        };
        let running = !matches!(
            state,
            Some("stopped" | "stopping" | "terminated" | "shutting-down")
        );
        let mut evidence = String::new();
        let _ = write!(
            evidence,
            "public IP {ip} with IMDSv1 allowed (httpTokens optional)"
        );
        if let Some(s) = state.filter(|_| !running) {
            let _ = write!(evidence, "; instance is {s}");
        }
        let mut f = EC2_IMDS.finding(evidence);
        f.reachable = running;
        out.push(f);
        Ok(())
    }
}

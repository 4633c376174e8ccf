//! Exposure through the network: security groups and EC2 instances.

use std::fmt::Write as _;

use serde_json::Value;

use super::{Finding, KrampusRemedy, Remedy, Rule, RuleInfo, Severity};
use crate::item::ConfigItem;
use crate::json::{self, FieldError};
use crate::policy::Policy;

const SG: &[&str] = &["AWS::EC2::SecurityGroup"];
const WORLD: &[&str] = &["0.0.0.0/0", "::/0"];

/// One ingress permission open to the whole Internet.
struct OpenPermission {
    proto: String,
    from: Option<i64>,
    to: Option<i64>,
    cidrs: Vec<String>,
}

enum Reach {
    AllTraffic,
    Ports(i64, i64),
    /// ICMP and other port-less protocols: not covered by the port rules.
    NoPorts,
}

impl OpenPermission {
    fn reach(&self) -> Reach {
        let proto = self.proto.to_ascii_lowercase();
        match proto.as_str() {
            "-1" | "all" => Reach::AllTraffic,
            "tcp" | "udp" | "6" | "17" => {
                let (from, to) = (self.from.unwrap_or(0), self.to.unwrap_or(65535));
                if from <= 1 && to >= 65535 || from < 0 {
                    Reach::AllTraffic
                } else {
                    Reach::Ports(from, to)
                }
            }
            _ => Reach::NoPorts,
        }
    }

    fn describe(&self) -> String {
        let ports = match (self.reach(), self.from, self.to) {
            (Reach::AllTraffic, _, _) if self.proto == "-1" => "all traffic".to_owned(),
            (_, Some(f), Some(t)) if f == t => format!("{}/{}", self.proto, f),
            (_, Some(f), Some(t)) => format!("{}/{}-{}", self.proto, f, t),
            _ => format!("{} (all ports)", self.proto),
        };
        format!("{ports} open to {}", self.cidrs.join(", "))
    }

    fn remedies(&self) -> impl Iterator<Item = Remedy> + '_ {
        self.cidrs.iter().map(|c| Remedy::RevokeIngress {
            proto: self.proto.clone(),
            from_port: self.from,
            to_port: self.to,
            cidr: c.clone(),
        })
    }
}

/// The ingress permissions of a group that are open to 0.0.0.0/0 or ::/0, reading the legacy
/// `ipRanges` strings as well as `ipv4Ranges` / `ipv6Ranges`.
fn open_permissions(item: &ConfigItem) -> Result<Vec<OpenPermission>, FieldError> {
    let perms = json::opt_array(item.config("ipPermissions"), "ipPermissions")?;
    let mut out = Vec::new();
    for (i, p) in perms.iter().enumerate() {
        let field = |k: &str| format!("ipPermissions[{i}].{k}");
        let mut cidrs: Vec<String> = Vec::new();
        let mut add = |c: &str| {
            if WORLD.contains(&c.trim()) && !cidrs.iter().any(|x| x == c.trim()) {
                cidrs.push(c.trim().to_owned());
            }
        };
        for r in json::opt_array(p.get("ipRanges"), &field("ipRanges"))? {
            match r {
                Value::String(c) => add(c),
                Value::Object(_) => {
                    if let Some(c) = json::opt_str(r.get("cidrIp"), &field("ipRanges[].cidrIp"))? {
                        add(c)
                    }
                }
                other => return Err(FieldError::new(field("ipRanges[]"), "a CIDR", other)),
            }
        }
        for r in json::opt_array(p.get("ipv4Ranges"), &field("ipv4Ranges"))? {
            if let Some(c) = json::opt_str(r.get("cidrIp"), &field("ipv4Ranges[].cidrIp"))? {
                add(c)
            }
        }
        for r in json::opt_array(p.get("ipv6Ranges"), &field("ipv6Ranges"))? {
            if let Some(c) = json::opt_str(r.get("cidrIpv6"), &field("ipv6Ranges[].cidrIpv6"))? {
                add(c)
            }
        }
        if cidrs.is_empty() {
            continue;
        }
        let proto = match p.get("ipProtocol") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            other => {
                return Err(FieldError::new(
                    field("ipProtocol"),
                    "a protocol",
                    other.unwrap_or(&Value::Null),
                ))
            }
        };
        out.push(OpenPermission {
            proto,
            from: json::opt_int(p.get("fromPort"), &field("fromPort"))?,
            to: json::opt_int(p.get("toPort"), &field("toPort"))?,
            cidrs,
        });
    }
    Ok(out)
}

/// A group reaches something when it is attached to anything but its VPC or other groups.
/// Relationships that were not recorded (a back-filled item) are unknown, not "nothing".
fn group_is_attached(item: &ConfigItem) -> bool {
    !item.relationships_known
        || item.relationships.iter().any(|r| {
            r.resource_type != "AWS::EC2::VPC" && r.resource_type != "AWS::EC2::SecurityGroup"
        })
}

fn intersects(from: i64, to: i64, ports: &[u16]) -> Vec<u16> {
    ports
        .iter()
        .copied()
        .filter(|p| (from..=to).contains(&i64::from(*p)))
        .collect()
}

/// Shared body of the security-group rules: `select` picks the permissions a rule is about.
fn sg_finding(
    info: &'static RuleInfo,
    item: &ConfigItem,
    out: &mut Vec<Finding>,
    select: impl Fn(&OpenPermission) -> bool,
) -> Result<(), FieldError> {
    let open = open_permissions(item)?;
    let hits: Vec<&OpenPermission> = open.iter().filter(|p| select(p)).collect();
    if hits.is_empty() {
        return Ok(());
    }
    let mut evidence = String::new();
    for (n, p) in hits.iter().enumerate() {
        if n > 0 {
            evidence.push_str("; ");
        }
        evidence.push_str(&p.describe());
    }
    let attached = group_is_attached(item);
    if !attached {
        evidence.push_str(" (group attached to nothing)");
    }
    let mut f = info.finding(evidence);
    f.remedies = hits.iter().flat_map(|p| p.remedies()).collect();
    f.reachable = attached;
    out.push(f);
    Ok(())
}

pub struct SgWorldAllTraffic;
static SG_ALL: RuleInfo = RuleInfo {
    id: "sg-world-all-traffic",
    severity: Severity::Critical,
    resource_types: SG,
    checks: "A security group allows all traffic (every protocol, or every TCP/UDP port) from 0.0.0.0/0 or ::/0.",
    remediation: "Remove the ingress rule and allow only the ports and source ranges the workload needs.",
    krampus: KrampusRemedy::RevokeIngressRule,
};
impl Rule for SgWorldAllTraffic {
    fn info(&self) -> &'static RuleInfo {
        &SG_ALL
    }
    fn evaluate(
        &self,
        item: &ConfigItem,
        _: &Policy,
        out: &mut Vec<Finding>,
    ) -> Result<(), FieldError> {
        sg_finding(&SG_ALL, item, out, |p| {
            matches!(p.reach(), Reach::AllTraffic)
        })
    }
}

pub struct SgWorldAdminPorts;
static SG_ADMIN: RuleInfo = RuleInfo {
    id: "sg-world-admin-ports",
    severity: Severity::Critical,
    resource_types: SG,
    checks: "A security group opens a remote-administration port (SSH, RDP, WinRM, VNC, telnet; policy `ports.admin`) to 0.0.0.0/0 or ::/0.",
    remediation: "Restrict the rule to your corporate or VPN ranges, or use SSM Session Manager instead of open admin ports.",
    krampus: KrampusRemedy::RevokeIngressRule,
};
impl Rule for SgWorldAdminPorts {
    fn info(&self) -> &'static RuleInfo {
        &SG_ADMIN
    }
    fn evaluate(
        &self,
        item: &ConfigItem,
        policy: &Policy,
        out: &mut Vec<Finding>,
    ) -> Result<(), FieldError> {
        sg_finding(&SG_ADMIN, item, out, |p| match p.reach() {
            Reach::Ports(f, t) => !intersects(f, t, &policy.ports.admin).is_empty(),
            _ => false,
        })
    }
}

pub struct SgWorldDatabasePorts;
static SG_DB: RuleInfo = RuleInfo {
    id: "sg-world-database-ports",
    severity: Severity::Critical,
    resource_types: SG,
    checks: "A security group opens a database or cache port (policy `ports.database`) to 0.0.0.0/0 or ::/0.",
    remediation: "Allow the database port only from the application's security group or private ranges.",
    krampus: KrampusRemedy::RevokeIngressRule,
};
impl Rule for SgWorldDatabasePorts {
    fn info(&self) -> &'static RuleInfo {
        &SG_DB
    }
    fn evaluate(
        &self,
        item: &ConfigItem,
        policy: &Policy,
        out: &mut Vec<Finding>,
    ) -> Result<(), FieldError> {
        sg_finding(&SG_DB, item, out, |p| match p.reach() {
            Reach::Ports(f, t) => !intersects(f, t, &policy.ports.database).is_empty(),
            _ => false,
        })
    }
}

pub struct SgWorldOtherPorts;
static SG_OTHER: RuleInfo = RuleInfo {
    id: "sg-world-other-ports",
    severity: Severity::High,
    resource_types: SG,
    checks: "A security group opens a port that is neither web (policy `ports.web`), admin nor database to 0.0.0.0/0 or ::/0.",
    remediation: "Put the service behind a load balancer or restrict the source range.",
    krampus: KrampusRemedy::RevokeIngressRule,
};
impl Rule for SgWorldOtherPorts {
    fn info(&self) -> &'static RuleInfo {
        &SG_OTHER
    }
    fn evaluate(
        &self,
        item: &ConfigItem,
        policy: &Policy,
        out: &mut Vec<Finding>,
    ) -> Result<(), FieldError> {
        let ports = &policy.ports;
        sg_finding(&SG_OTHER, item, out, |p| match p.reach() {
            Reach::Ports(f, t) => {
                let only_web = (f..=t).count() <= ports.web.len()
                    && (f..=t).all(|x| ports.web.iter().any(|w| i64::from(*w) == x));
                !only_web
                    && intersects(f, t, &ports.admin).is_empty()
                    && intersects(f, t, &ports.database).is_empty()
            }
            _ => false,
        })
    }
}

pub struct Ec2PublicImdsV1;
static EC2_IMDS: RuleInfo = RuleInfo {
    id: "ec2-public-ip-imdsv1",
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
        _: &Policy,
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

//! Exposure computed from the ranges, not matched as strings: every spelling of "the whole
//! Internet" is seen, a rule counts once at its highest port class, and the tasks revoke what
//! makes the group open.

use justice_core::rules::{Finding, Remedy};
use justice_core::score::evaluate_item;
use justice_core::Policy;
use justice_tests::{eb_item, set};
use serde_json::{json, Value};

const GROUP: &str = "eventbridge/eb-ci-change-ec2-securitygroup-restricted.json";

fn v4(proto: &str, from: i64, to: i64, cidrs: &[&str]) -> Value {
    json!({
        "ipProtocol": proto, "fromPort": from, "toPort": to,
        "ipv4Ranges": cidrs.iter().map(|c| json!({"cidrIp": c})).collect::<Vec<_>>(),
        "ipv6Ranges": [], "prefixListIds": [], "userIdGroupPairs": [],
        "ipRanges": cidrs,
    })
}

fn v6(proto: &str, from: i64, to: i64, cidrs: &[&str]) -> Value {
    json!({
        "ipProtocol": proto, "fromPort": from, "toPort": to,
        "ipv6Ranges": cidrs.iter().map(|c| json!({"cidrIpv6": c})).collect::<Vec<_>>(),
        "ipv4Ranges": [], "prefixListIds": [], "userIdGroupPairs": [], "ipRanges": [],
    })
}

fn findings(perms: Vec<Value>) -> Vec<Finding> {
    let item = eb_item(GROUP, |ci| {
        set(ci, "/configuration/ipPermissions", Value::Array(perms));
    });
    Policy::default_policy().findings(&item).expect("evaluated")
}

/// The exposure findings: (rule, evidence, revoked CIDRs).
fn exposure(perms: Vec<Value>) -> Vec<(String, String, Vec<String>)> {
    findings(perms)
        .into_iter()
        .filter(|f| f.rule.starts_with("sg-world-"))
        .map(|f| {
            let cidrs = f
                .remedies
                .iter()
                .map(|r| match r {
                    Remedy::RevokeIngress { cidr, .. } => cidr.clone(),
                    other => panic!("unexpected remedy {other:?}"),
                })
                .collect();
            (f.rule, f.evidence, cidrs)
        })
        .collect()
}

fn rules(found: &[(String, String, Vec<String>)]) -> Vec<&str> {
    found.iter().map(|(r, _, _)| r.as_str()).collect()
}

#[test]
fn every_spelling_of_the_whole_internet_on_ssh_is_world_exposure() {
    let spellings: Vec<Vec<Value>> = vec![
        vec![v4("tcp", 22, 22, &["0.0.0.0/0"])],
        vec![v4("tcp", 22, 22, &["0.0.0.0/00"])],
        vec![v4("tcp", 22, 22, &["0.0.0.0/1", "128.0.0.0/1"])],
        // The halves in two rules of different port ranges: port 22 is open to both.
        vec![
            v4("tcp", 22, 22, &["0.0.0.0/1"]),
            v4("tcp", 20, 25, &["128.0.0.0/1"]),
        ],
        vec![v4(
            "tcp",
            22,
            22,
            &(0..=255)
                .map(|i| format!("{i}.0.0.0/8"))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )],
        vec![v6("tcp", 22, 22, &["::0/0"])],
        vec![v6("tcp", 22, 22, &["0:0:0:0:0:0:0:0/0"])],
        vec![v6("tcp", 22, 22, &["::/1", "8000::/1"])],
        vec![v6("tcp", 22, 22, &["2000::/3"])],
    ];
    for perms in spellings {
        let shown = perms.clone();
        let found = exposure(perms);
        assert_eq!(rules(&found), ["sg-world-admin-ports"], "{shown:?}");
        // The evidence names the rules that make it up.
        let (_, evidence, _) = &found[0];
        assert!(
            evidence.contains("tcp/22") || evidence.contains("tcp/20-25"),
            "{evidence}"
        );
    }
}

#[test]
fn private_documentation_and_narrow_ranges_are_not_the_world() {
    for perms in [
        vec![v4(
            "tcp",
            22,
            22,
            &["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
        )],
        vec![v4("tcp", 22, 22, &["203.0.113.0/24", "100.64.0.0/10"])],
        // Two public /9s: each under a /8's worth, together far under half.
        vec![v4("tcp", 22, 22, &["11.0.0.0/9", "52.0.0.0/9"])],
        vec![v6(
            "tcp",
            22,
            22,
            &["fd00::/8", "2001:db8::/32", "2600:1f00::/24"],
        )],
    ] {
        let shown = perms.clone();
        let found = exposure(perms);
        assert!(found.is_empty(), "{shown:?}: {found:?}");
    }
    // Half of IPv4 in one range is far wider than a /8: the world.
    assert_eq!(
        rules(&exposure(vec![v4("tcp", 22, 22, &["0.0.0.0/1"])])),
        ["sg-world-admin-ports"]
    );
}

#[test]
fn a_port_range_counts_once_at_its_highest_class() {
    let policy = Policy::default_policy();
    let score = |perms: Vec<Value>| {
        let item = eb_item(GROUP, |ci| {
            set(ci, "/configuration/ipPermissions", Value::Array(perms));
        });
        evaluate_item(&item, item.capture_time, &policy)
            .expect("scored")
            .findings
            .iter()
            .map(|f| f.base_points)
            .sum::<u32>()
    };
    let high = exposure(vec![v4("tcp", 1024, 65535, &["0.0.0.0/0"])]);
    assert_eq!(rules(&high), ["sg-world-admin-ports"]);
    let all = exposure(vec![v4("tcp", 0, 65535, &["0.0.0.0/0"])]);
    assert_eq!(rules(&all), ["sg-world-all-traffic"]);
    assert_eq!(
        score(vec![v4("tcp", 1024, 65535, &["0.0.0.0/0"])]),
        score(vec![v4("tcp", 0, 65535, &["0.0.0.0/0"])]),
        "1024-65535 and 0-65535 score alike"
    );
    // Two rules that together open every port are all traffic.
    let halves = exposure(vec![
        v4("tcp", 0, 32767, &["0.0.0.0/0"]),
        v4("tcp", 32768, 65535, &["0.0.0.0/0"]),
    ]);
    assert_eq!(rules(&halves), ["sg-world-all-traffic"]);
    // A database port and an admin port in separate rules: one finding each.
    let both = exposure(vec![
        v4("tcp", 22, 22, &["0.0.0.0/0"]),
        v4("tcp", 5432, 5432, &["0.0.0.0/0"]),
    ]);
    assert_eq!(
        rules(&both),
        ["sg-world-admin-ports", "sg-world-database-ports"]
    );
    // Web ports stay quiet; an odd port is other.
    assert!(exposure(vec![v4("tcp", 443, 443, &["0.0.0.0/0"])]).is_empty());
    assert_eq!(
        rules(&exposure(vec![v4("tcp", 8443, 8443, &["0.0.0.0/0"])])),
        ["sg-world-other-ports"]
    );
}

#[test]
fn protocols_ec2_opens_on_every_port_are_exposure_too() {
    for proto in ["132", "50", "47"] {
        let found = exposure(vec![v4(proto, -1, -1, &["0.0.0.0/0"])]);
        assert_eq!(rules(&found), ["sg-world-other-ports"], "protocol {proto}");
        assert!(found[0].1.contains("all ports"), "{}", found[0].1);
    }
    // ICMP is not scored; `-1` is all traffic.
    assert!(exposure(vec![v4("icmp", -1, -1, &["0.0.0.0/0"])]).is_empty());
    assert_eq!(
        rules(&exposure(vec![v4(
            "-1",
            -1,
            -1,
            &["0.0.0.0/1", "128.0.0.0/1"]
        )])),
        ["sg-world-all-traffic"]
    );
}

#[test]
fn tasks_revoke_what_makes_the_group_open_and_keep_the_rest() {
    // A wide range beside an office address: only the wide one goes.
    let found = exposure(vec![v4("tcp", 22, 22, &["0.0.0.0/0", "198.51.99.7/32"])]);
    assert_eq!(found[0].2, ["0.0.0.0/0"]);
    // Slices that add up to the world: all of them go, and the private range stays.
    let found = exposure(vec![
        v4("tcp", 22, 22, &["0.0.0.0/2", "64.0.0.0/2", "10.0.0.0/8"]),
        v4("tcp", 22, 22, &["128.0.0.0/2"]),
    ]);
    let mut revoked: Vec<String> = found.iter().flat_map(|f| f.2.clone()).collect();
    revoked.sort();
    assert_eq!(revoked, ["0.0.0.0/2", "128.0.0.0/2", "64.0.0.0/2"]);
}

#[test]
fn a_range_that_is_not_a_cidr_is_an_error_not_a_closed_group() {
    let item = eb_item(GROUP, |ci| {
        set(
            ci,
            "/configuration/ipPermissions",
            json!([v4("tcp", 22, 22, &["0.0.0.0/0 or so"])]),
        );
    });
    let e = Policy::default_policy()
        .findings(&item)
        .expect_err("refused");
    let e = e.to_string();
    assert!(
        e.contains("sg-6c7fa917") && e.contains("ipPermissions[0]") && e.contains("a CIDR block"),
        "{e}"
    );
}

#[test]
fn a_group_at_the_quota_of_1000_rules_is_read_whole() {
    // 1,000 rules, one port each of 10001-11000 (no admin or database port), plus one rule
    // over all those ports: odd ports to a private range, even ports to the other half of
    // IPv4 than the wide rule's. Every even port is the world through two rules.
    let mut perms: Vec<Value> = (0..999)
        .map(|i| {
            let port = 10001 + i;
            if port % 2 == 1 {
                v4("tcp", port, port, &["10.0.0.0/8"])
            } else {
                v4("tcp", port, port, &["128.0.0.0/1"])
            }
        })
        .collect();
    perms.push(v4("tcp", 10001, 11000, &["0.0.0.0/1"]));
    let found = exposure(perms);
    assert_eq!(rules(&found), ["sg-world-other-ports"]);
    // 499 even-port rules and the wide one are named; each /1 is wide on its own, so only the
    // /1s are revoked, never the private range.
    assert_eq!(
        found[0].1.matches("; ").count(),
        499,
        "{}",
        &found[0].1[..200]
    );
    assert_eq!(found[0].2.len(), 500);
    assert!(found[0].2.iter().all(|c| c.ends_with("/1")));
}

/// Found by an attack on the first version: web rules were charged as "all traffic" when
/// another rule opened everything, IPv6 made IPv4 rules part of it, an office range was
/// revoked when another permission's narrow ranges added up to the world, and ranges in a
/// shape Config does not write were skipped as if they admitted nobody.
#[test]
fn web_rules_other_families_and_office_ranges_are_left_alone() {
    // IPv6 all traffic beside an IPv4 web rule: only the IPv6 rule is charged.
    let found = exposure(vec![
        v4("tcp", 443, 443, &["0.0.0.0/0"]),
        json!({"ipProtocol": "-1", "ipv6Ranges": [{"cidrIpv6": "::/0"}], "ipv4Ranges": [], "ipRanges": []}),
    ]);
    assert_eq!(rules(&found), ["sg-world-all-traffic"]);
    assert!(!found[0].1.contains("443"), "{}", found[0].1);
    assert_eq!(found[0].2, ["::/0"]);
    // IPv4 all traffic beside an IPv4 web rule: the web rule stays.
    let found = exposure(vec![
        v4("tcp", 443, 443, &["0.0.0.0/0"]),
        v4("-1", -1, -1, &["0.0.0.0/0"]),
    ]);
    assert_eq!(rules(&found), ["sg-world-all-traffic"]);
    assert!(!found[0].1.contains("443"), "{}", found[0].1);
    assert_eq!(found[0].2, ["0.0.0.0/0"]);
    // Another permission's narrow IPv6 ranges add up to the world: the office /32 of the SSH
    // rule still stays.
    let slices: Vec<String> = ["2400", "2600", "2800", "2a00"]
        .iter()
        .flat_map(|b| {
            let base = u16::from_str_radix(b, 16).expect("hex");
            (0..64u16).map(move |i| format!("{:x}:{:x}::/18", base + (i >> 2), (i & 3) << 14))
        })
        .collect();
    let slices: Vec<&str> = slices.iter().map(String::as_str).collect();
    let found = exposure(vec![
        v4("tcp", 22, 22, &["0.0.0.0/0", "198.51.99.7/32"]),
        v6("udp", 5060, 5060, &slices),
    ]);
    let ssh = found
        .iter()
        .find(|f| f.0 == "sg-world-admin-ports")
        .expect("ssh");
    assert_eq!(ssh.2, ["0.0.0.0/0"]);
    let sip = found
        .iter()
        .find(|f| f.0 == "sg-world-other-ports")
        .expect("the slices add up");
    assert_eq!(sip.2.len(), 256);
}

#[test]
fn ranges_and_protocols_in_other_shapes_are_read_not_skipped() {
    // Strings where Config writes objects: read as the ranges they are.
    let found = exposure(vec![json!({
        "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
        "ipv4Ranges": ["0.0.0.0/0"], "ipv6Ranges": [], "ipRanges": [],
    })]);
    assert_eq!(rules(&found), ["sg-world-admin-ports"]);
    // Protocol numbers however written.
    for proto in [json!("06"), json!(6), json!(6.0), json!("TCP")] {
        let mut p = v4("tcp", 3389, 3389, &["0.0.0.0/0"]);
        p["ipProtocol"] = proto.clone();
        assert_eq!(
            rules(&exposure(vec![p])),
            ["sg-world-admin-ports"],
            "{proto}"
        );
    }
    // An object without its range: an error naming the field, not a closed group.
    let item = eb_item(GROUP, |ci| {
        set(
            ci,
            "/configuration/ipPermissions",
            json!([{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                    "ipv4Ranges": [{"CidrIp": "0.0.0.0/0"}]}]),
        );
    });
    let e = Policy::default_policy()
        .findings(&item)
        .expect_err("refused")
        .to_string();
    assert!(e.contains("ipv4Ranges[].cidrIp"), "{e}");
}

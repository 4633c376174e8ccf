//! Each rule on real-shaped items, risky and safe; and a walk of the rule table.

use std::collections::BTreeSet;

use justice_core::rules::RULES;
use justice_core::Policy;
use justice_tests::{eb_item, rule_ids, set, url_encoded};
use serde_json::{json, Value};

type Edit = fn(&mut Value);

/// (rule, fixture, edit, fires): every rule has at least one firing and one quiet case.
const CASES: &[(&str, &str, Edit, bool)] = &[
    (
        "sg-world-admin-ports",
        "eventbridge/eb-ci-change-ec2-securitygroup-open-world.json",
        |_| {},
        true,
    ),
    (
        "sg-world-admin-ports",
        "eventbridge/eb-ci-change-ec2-securitygroup-restricted.json",
        |_| {},
        false,
    ),
    (
        "sg-world-all-traffic",
        "eventbridge/eb-ci-change-ec2-securitygroup-restricted.json",
        |ci| {
            set(
                ci,
                "/configuration/ipPermissions/0",
                json!({"ipProtocol": "-1", "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}], "ipRanges": ["0.0.0.0/0"]}),
            );
        },
        true,
    ),
    (
        "sg-world-all-traffic",
        "eventbridge/eb-ci-change-ec2-securitygroup-restricted.json",
        |ci| {
            set(
                ci,
                "/configuration/ipPermissions/0",
                json!({"ipProtocol": "tcp", "fromPort": 0, "toPort": 65535, "ipv6Ranges": [{"cidrIpv6": "::/0"}]}),
            );
        },
        true,
    ),
    (
        "sg-world-all-traffic",
        "eventbridge/eb-ci-change-ec2-securitygroup-open-world.json",
        |_| {},
        false,
    ),
    (
        "sg-world-database-ports",
        "eventbridge/eb-ci-change-ec2-securitygroup-restricted.json",
        |ci| {
            set(
                ci,
                "/configuration/ipPermissions/0",
                json!({"ipProtocol": "tcp", "fromPort": 5432.0, "toPort": 5432.0, "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}]}),
            );
        },
        true,
    ),
    (
        "sg-world-database-ports",
        "eventbridge/eb-ci-change-ec2-securitygroup-restricted.json",
        |ci| {
            set(
                ci,
                "/configuration/ipPermissions/0",
                json!({"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "ipv4Ranges": [{"cidrIp": "10.0.0.0/8"}]}),
            );
        },
        false,
    ),
    (
        "sg-world-other-ports",
        "eventbridge/eb-ci-change-ec2-securitygroup-restricted.json",
        |ci| {
            set(
                ci,
                "/configuration/ipPermissions/0",
                json!({"ipProtocol": "tcp", "fromPort": 8080, "toPort": 8080, "ipv6Ranges": [{"cidrIpv6": "::/0"}]}),
            );
        },
        true,
    ),
    (
        "sg-world-other-ports",
        "eventbridge/eb-ci-change-ec2-securitygroup-restricted.json",
        |ci| {
            // A load balancer's group: HTTPS to the world is normal.
            set(
                ci,
                "/configuration/ipPermissions/0",
                json!({"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "ipRanges": ["0.0.0.0/0"]}),
            );
        },
        false,
    ),
    (
        "ec2-public-ip-imdsv1",
        "eventbridge/eb-ci-change-ec2-instance-public-ip.json",
        |_| {},
        true,
    ),
    (
        "ec2-public-ip-imdsv1",
        "eventbridge/eb-ci-change-ec2-instance-public-ip.json",
        |ci| {
            set(
                ci,
                "/configuration/metadataOptions/httpTokens",
                json!("required"),
            );
        },
        false,
    ),
    (
        "ec2-public-ip-imdsv1",
        "eventbridge/eb-ci-change-ec2-instance-public-ip.json",
        |ci| {
            set(ci, "/configuration/publicIpAddress", Value::Null);
        },
        false,
    ),
    (
        "s3-public-acl",
        "eventbridge/eb-ci-change-s3-bucket-public.json",
        |_| {},
        true,
    ),
    (
        "s3-public-acl",
        "eventbridge/eb-ci-change-s3-bucket-public.json",
        |ci| {
            // Public grants the bucket ignores are not exposure.
            set(
                ci,
                "/supplementaryConfiguration/PublicAccessBlockConfiguration/ignorePublicAcls",
                json!(true),
            );
        },
        false,
    ),
    (
        "s3-public-acl",
        "eventbridge/eb-ci-change-s3-bucket-private-encrypted.json",
        |_| {},
        false,
    ),
    (
        "s3-public-policy",
        "eventbridge/eb-ci-change-s3-bucket-public.json",
        |_| {},
        true,
    ),
    (
        "s3-public-policy",
        "eventbridge/eb-ci-change-s3-bucket-public.json",
        |ci| {
            let policy = json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}}]});
            set(
                ci,
                "/supplementaryConfiguration/BucketPolicy/policyText",
                json!(policy.to_string()),
            );
        },
        false,
    ),
    (
        "s3-public-policy",
        "eventbridge/eb-ci-change-s3-bucket-private-encrypted.json",
        |_| {},
        false,
    ),
    (
        "s3-block-public-access-off",
        "eventbridge/eb-ci-change-s3-bucket-public.json",
        |_| {},
        true,
    ),
    (
        "s3-block-public-access-off",
        "eventbridge/eb-ci-change-s3-bucket-private-encrypted.json",
        |_| {},
        false,
    ),
    (
        "s3-block-public-access-off",
        "eventbridge/eb-ci-change-s3-bucket-public.json",
        |ci| {
            // Not recorded is unknown, not off.
            ci["supplementaryConfiguration"]
                .as_object_mut()
                .map(|m| m.remove("PublicAccessBlockConfiguration"));
        },
        false,
    ),
    (
        "rds-instance-public",
        "eventbridge/eb-ci-change-rds-dbinstance-public-unencrypted.json",
        |_| {},
        true,
    ),
    (
        "rds-instance-public",
        "eventbridge/eb-ci-change-rds-dbinstance-public-unencrypted.json",
        |ci| {
            set(ci, "/configuration/publiclyAccessible", json!(false));
        },
        false,
    ),
    (
        "rds-storage-unencrypted",
        "eventbridge/eb-ci-change-rds-dbinstance-public-unencrypted.json",
        |_| {},
        true,
    ),
    (
        "rds-storage-unencrypted",
        "eventbridge/eb-ci-change-rds-dbinstance-public-unencrypted.json",
        |ci| {
            set(ci, "/configuration/storageEncrypted", json!(true));
        },
        false,
    ),
    (
        "rds-snapshot-public",
        "eventbridge/eb-ci-change-rds-dbsnapshot-public.json",
        |_| {},
        true,
    ),
    (
        "rds-snapshot-public",
        "eventbridge/eb-ci-change-rds-dbsnapshot-public.json",
        |ci| {
            set(
                ci,
                "/supplementaryConfiguration/DBSnapshotAttributes/0/attributeValues",
                json!(["123456789012"]),
            );
        },
        false,
    ),
    (
        "rds-snapshot-unencrypted",
        "eventbridge/eb-ci-change-rds-dbsnapshot-public.json",
        |_| {},
        true,
    ),
    (
        "rds-snapshot-unencrypted",
        "eventbridge/eb-ci-change-rds-dbsnapshot-public.json",
        |ci| {
            set(ci, "/configuration/encrypted", json!(true));
        },
        false,
    ),
    (
        "ebs-volume-unencrypted",
        "eventbridge/eb-ci-change-ec2-volume-unencrypted.json",
        |_| {},
        true,
    ),
    (
        "ebs-volume-unencrypted",
        "eventbridge/eb-ci-change-ec2-volume-unencrypted.json",
        |ci| {
            set(ci, "/configuration/encrypted", json!(true));
        },
        false,
    ),
    (
        "efs-unencrypted",
        "eventbridge/eb-ci-change-efs-filesystem-tags-update.json",
        |ci| {
            set(ci, "/configuration/Encrypted", json!(false));
        },
        true,
    ),
    (
        "efs-unencrypted",
        "eventbridge/eb-ci-change-efs-filesystem-tags-update.json",
        |_| {},
        false,
    ),
    (
        "iam-policy-admin-star",
        "eventbridge/eb-ci-change-iam-policy-admin-star.json",
        |_| {},
        true,
    ),
    (
        "iam-policy-admin-star",
        "eventbridge/eb-ci-change-iam-role.json",
        |_| {},
        false,
    ),
    (
        "iam-policy-admin-star",
        "eventbridge/eb-ci-change-iam-role.json",
        |ci| {
            let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
            set(
                ci,
                "/configuration/rolePolicyList/0/policyDocument",
                url_encoded(&doc),
            );
        },
        true,
    ),
    (
        "iam-role-trust-public",
        "eventbridge/eb-ci-change-iam-role.json",
        |ci| {
            let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]});
            set(
                ci,
                "/configuration/assumeRolePolicyDocument",
                url_encoded(&doc),
            );
        },
        true,
    ),
    (
        "iam-role-trust-public",
        "eventbridge/eb-ci-change-iam-role.json",
        |ci| {
            let doc = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}}]});
            set(
                ci,
                "/configuration/assumeRolePolicyDocument",
                url_encoded(&doc),
            );
        },
        false,
    ),
    (
        "iam-role-trust-public",
        "eventbridge/eb-ci-change-iam-role.json",
        |_| {},
        false,
    ),
    (
        "lambda-policy-public",
        "eventbridge/eb-ci-change-lambda-function.json",
        |ci| {
            let doc = json!({"Statement": [{"Sid": "FunctionURLAllowPublicAccess", "Effect": "Allow", "Principal": "*",
            "Action": "lambda:InvokeFunctionUrl", "Resource": "arn:aws:lambda:us-east-2:644160558196:function:omnissm-handle-registrations",
            "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}}]});
            set(
                ci,
                "/supplementaryConfiguration/Policy",
                json!(doc.to_string()),
            );
        },
        true,
    ),
    (
        "lambda-policy-public",
        "eventbridge/eb-ci-change-lambda-function.json",
        |_| {},
        false,
    ),
    (
        "sqs-policy-public",
        "eventbridge/eb-ci-change-sqs-queue-discovered.json",
        |ci| {
            let doc = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sqs:SendMessage"}]});
            set(ci, "/configuration/Policy", json!(doc.to_string()));
        },
        true,
    ),
    (
        "sqs-policy-public",
        "eventbridge/eb-ci-change-sqs-queue-discovered.json",
        |_| {},
        false,
    ),
    (
        "required-tags",
        "eventbridge/eb-ci-change-s3-bucket-public.json",
        |_| {},
        true,
    ),
    (
        "required-tags",
        "eventbridge/eb-ci-change-s3-bucket-private-encrypted.json",
        |_| {},
        false,
    ),
    (
        "required-tags",
        "eventbridge/eb-ci-change-s3-bucket-public.json",
        |ci| {
            // Tags Config did not record are not missing tags.
            ci.as_object_mut().map(|m| m.remove("tags"));
        },
        false,
    ),
    (
        "required-tags",
        "eventbridge/eb-ci-change-s3-bucket-private-encrypted.json",
        |ci| {
            set(ci, "/tags/team", json!("Payments Team!"));
        },
        true,
    ),
];

#[test]
fn every_case_fires_or_stays_quiet_as_expected() {
    let policy = Policy::default_policy();
    let mut failures = Vec::new();
    for (n, (rule, fixture, edit, fires)) in CASES.iter().enumerate() {
        let item = eb_item(fixture, edit);
        let got = rule_ids(&item, &policy).iter().any(|r| r == rule);
        if got != *fires {
            failures.push(format!(
                "case {n}: {rule} on {fixture}: expected fires={fires}, got {got}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_rule_table_has_unique_kebab_case_ids_and_complete_descriptions() {
    let mut seen = BTreeSet::new();
    for rule in RULES {
        let i = rule.info();
        assert!(seen.insert(i.id), "duplicate rule id {}", i.id);
        assert!(
            !i.id.is_empty()
                && i.id.split('-').all(|w| !w.is_empty()
                    && w.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())),
            "{} is not kebab-case",
            i.id
        );
        assert!(
            i.checks.ends_with('.') && i.remediation.ends_with('.'),
            "{}: write whole sentences",
            i.id
        );
    }
    assert!(RULES.len() >= 15, "only {} rules", RULES.len());
    let types: BTreeSet<&str> = RULES
        .iter()
        .flat_map(|r| r.info().resource_types.iter().copied())
        .collect();
    assert!(
        types.len() >= 9,
        "only {} resource types: {types:?}",
        types.len()
    );
}

#[test]
fn every_rule_is_exercised_both_ways() {
    for rule in RULES {
        let id = rule.info().id;
        for want in [true, false] {
            assert!(
                CASES
                    .iter()
                    .any(|(r, _, _, fires)| *r == id && *fires == want),
                "rule {id} has no case where fires={want}"
            );
        }
    }
}

#[test]
fn each_fixture_yields_exactly_its_expected_findings() {
    let policy = Policy::default_policy();
    let expected: &[(&str, &[&str])] = &[
        (
            "eventbridge/eb-ci-change-ec2-instance-discovered.json",
            &["required-tags", "required-tags"],
        ),
        (
            "eventbridge/eb-ci-change-ec2-instance-public-ip.json",
            &["ec2-public-ip-imdsv1", "required-tags", "required-tags"],
        ),
        (
            "eventbridge/eb-ci-change-ec2-securitygroup-open-world.json",
            &["sg-world-admin-ports", "required-tags"],
        ),
        (
            // A VPC's default group, with rules: the pack's rule says so.
            "eventbridge/eb-ci-change-ec2-securitygroup-restricted.json",
            &[
                "required-tags",
                "required-tags",
                "ec2-default-security-group-has-rules",
            ],
        ),
        (
            "eventbridge/eb-ci-change-ec2-volume-unencrypted.json",
            &["ebs-volume-unencrypted", "required-tags", "required-tags"],
        ),
        (
            "eventbridge/eb-ci-change-efs-filesystem-tags-update.json",
            &["required-tags", "required-tags"],
        ),
        (
            "eventbridge/eb-ci-change-iam-policy-admin-star.json",
            &["iam-policy-admin-star", "required-tags", "required-tags"],
        ),
        (
            "eventbridge/eb-ci-change-iam-role.json",
            &["required-tags", "required-tags"],
        ),
        ("eventbridge/eb-ci-change-iam-user.json", &["required-tags"]),
        (
            "eventbridge/eb-ci-change-lambda-function.json",
            &["required-tags", "required-tags"],
        ),
        (
            "eventbridge/eb-ci-change-rds-dbinstance-public-unencrypted.json",
            &[
                "rds-instance-public",
                "rds-storage-unencrypted",
                "required-tags",
                "required-tags",
            ],
        ),
        (
            "eventbridge/eb-ci-change-rds-dbsnapshot-public.json",
            &[
                "rds-snapshot-public",
                "rds-snapshot-unencrypted",
                "required-tags",
                "required-tags",
            ],
        ),
        (
            "eventbridge/eb-ci-change-s3-bucket-private-encrypted.json",
            &[],
        ),
        (
            "eventbridge/eb-ci-change-s3-bucket-public.json",
            &[
                "s3-public-acl",
                "s3-public-policy",
                "s3-block-public-access-off",
                "required-tags",
                "required-tags",
            ],
        ),
        (
            "eventbridge/eb-ci-change-sqs-queue-discovered.json",
            &["required-tags", "required-tags"],
        ),
    ];
    let mut failures = Vec::new();
    for (fixture, want) in expected {
        let got = rule_ids(&eb_item(fixture, |_| {}), &policy);
        if got != *want {
            failures.push(format!("{fixture}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every rule's class, decided here on purpose: a new rule fails this test until someone says
/// whether it is exposure (acted on), hygiene or tagging (advised, never acted on by default).
#[test]
fn every_rule_has_the_class_the_risk_model_gives_it() {
    use justice_core::rules::FindingClass::{Exposure, Hygiene, Tagging};
    let expected = [
        ("sg-world-all-traffic", Exposure),
        ("sg-world-admin-ports", Exposure),
        ("sg-world-database-ports", Exposure),
        ("sg-world-other-ports", Exposure),
        ("ec2-public-ip-imdsv1", Hygiene),
        ("s3-public-acl", Exposure),
        ("s3-public-policy", Exposure),
        ("s3-block-public-access-off", Hygiene),
        ("rds-instance-public", Exposure),
        ("rds-storage-unencrypted", Hygiene),
        ("rds-snapshot-public", Exposure),
        ("rds-snapshot-unencrypted", Hygiene),
        ("ebs-volume-unencrypted", Hygiene),
        ("efs-unencrypted", Hygiene),
        ("iam-policy-admin-star", Hygiene),
        ("iam-role-trust-public", Exposure),
        ("lambda-policy-public", Exposure),
        ("sqs-policy-public", Exposure),
        ("required-tags", Tagging),
    ];
    for rule in RULES {
        let i = rule.info();
        let want = expected
            .iter()
            .find(|(id, _)| *id == i.id)
            .map(|(_, c)| *c)
            .unwrap_or_else(|| panic!("{}: no class decided for it in this test", i.id));
        assert_eq!(i.class, want, "{}", i.id);
    }
    assert_eq!(
        expected.len(),
        RULES.len(),
        "a rule in the table no longer exists"
    );
    // Unknown rules (a state from another version, a rule removed since) never drive an action.
    let policy = Policy::default_policy();
    assert_eq!(policy.class_of("no-such-rule"), Hygiene);
    assert_eq!(
        policy.finding_cap("no-such-rule", justice_core::rules::Severity::Critical),
        justice_core::policy::ActionCap::None
    );
}

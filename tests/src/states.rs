//! Risk states built by hand, for the judge's tests.

use justice_core::policy::Policy;
use justice_core::rules::{Finding, Remedy, Severity};
use justice_core::state::{ResourceStatus, ScoredFinding};
use justice_core::{ResourceKey, RiskState};

pub const ACCOUNT: &str = "111122223333";
pub const T0: i64 = 1_790_000_000_000;

pub fn finding(rule: &str, evidence: &str, remedies: Vec<Remedy>) -> ScoredFinding {
    ScoredFinding {
        finding: Finding {
            rule: rule.into(),
            subject: String::new(),
            // The rule's own severity: it decides what the finding may drive.
            severity: justice_core::rules::find(rule).map_or(Severity::High, |r| r.info().severity),
            evidence: evidence.into(),
            remedies,
            reachable: true,
        },
        base_points: 60,
        first_seen: T0,
        age_factor: 1.0,
        recidivism_factor: 1.0,
        points: 60,
    }
}

pub fn ingress(port: i64, cidr: &str) -> Remedy {
    Remedy::RevokeIngress {
        proto: "tcp".into(),
        from_port: Some(port),
        to_port: Some(port),
        cidr: cidr.into(),
    }
}

pub fn state(
    ty: &str,
    id: &str,
    arn: Option<&str>,
    score: u32,
    findings: Vec<ScoredFinding>,
) -> RiskState {
    let policy = Policy::default_policy();
    // The score is the sum of the findings' points, as the scorer makes it: spread over them.
    let mut findings = findings;
    let n = findings.len() as u32;
    for (i, f) in findings.iter_mut().enumerate() {
        let share = score / n + u32::from((i as u32) < score % n);
        f.points = share;
        f.base_points = share;
    }
    RiskState {
        key: ResourceKey::new(ACCOUNT, "us-east-1", ty, id).expect("a valid test key"),
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
        resource_type: ty.into(),
        resource_id: id.into(),
        arn: arn.map(str::to_owned),
        // The types Krampus names by their name carry it in their ARN.
        resource_name: Some(match (ty, arn) {
            (
                "AWS::RDS::DBInstance" | "AWS::IAM::User" | "AWS::IAM::Role" | "AWS::IAM::Group",
                Some(a),
            ) => a.rsplit(['/', ':']).next().unwrap_or(id).to_owned(),
            _ => format!("name of {id}"),
        }),
        status: ResourceStatus::Active,
        capture_time: T0,
        state_id: "1".into(),
        digest: "d".into(),
        evaluated_at: T0,
        score,
        level: policy.thresholds.level(score),
        findings,
        rule_errors: vec![],
        tags: None,
        owner: Some("team-a".into()),
        effects: vec![],
        episodes: 1,
        episode_starts: vec![T0],
        risky_newest: score > 0,
        risky_before: false,
        rank: 3,
        policy_version: policy.version.clone(),
        revision: 1,
    }
}

pub fn sg(score: u32, ports: &[i64]) -> RiskState {
    let findings = ports
        .iter()
        .map(|&p| {
            finding(
                "sg-world-admin-ports",
                &format!("tcp/{p} open to 0.0.0.0/0"),
                vec![ingress(p, "0.0.0.0/0")],
            )
        })
        .collect();
    state(
        "AWS::EC2::SecurityGroup",
        "sg-0123abcd",
        Some(&format!(
            "arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/sg-0123abcd"
        )),
        score,
        findings,
    )
}

/// One risky state per type Krampus acts on (and its rule and grant variants), each with the
/// findings that call for a task: the inputs of the Krampus contract test.
pub fn every_krampus_type() -> Vec<RiskState> {
    let arn = |service: &str, rest: &str| format!("arn:aws:{service}:us-east-1:{ACCOUNT}:{rest}");
    let any = |rule: &str| vec![finding(rule, "open to the world", vec![])];
    let mut sg_all = sg(200, &[22, 5432]);
    sg_all.findings.push(finding(
        "sg-world-all-traffic",
        "all traffic open to 0.0.0.0/0",
        vec![Remedy::RevokeIngress {
            proto: "-1".into(),
            from_port: None,
            to_port: None,
            cidr: "0.0.0.0/0".into(),
        }],
    ));
    let grant = |perms: &[&str]| Remedy::RemoveS3Grant {
        principal: "http://acs.amazonaws.com/groups/global/AllUsers".into(),
        permissions: perms.iter().map(|p| (*p).to_owned()).collect(),
    };
    vec![
        sg_all,
        state(
            "AWS::EC2::Instance",
            "i-0abc1234",
            Some(&arn("ec2", "instance/i-0abc1234")),
            200,
            any("ec2-public-ip-imdsv1"),
        ),
        state(
            "AWS::EC2::Volume",
            "vol-0abc1234",
            Some(&arn("ec2", "volume/vol-0abc1234")),
            200,
            any("ebs-volume-unencrypted"),
        ),
        state(
            "AWS::Lambda::Function",
            "fn-a",
            Some(&arn("lambda", "function:fn-a")),
            200,
            any("lambda-policy-public"),
        ),
        state(
            "AWS::RDS::DBInstance",
            "db-ABCDEF",
            Some(&arn("rds", "db:orders")),
            200,
            any("rds-instance-public"),
        ),
        state(
            "AWS::S3::Bucket",
            "bucket-a",
            Some("arn:aws:s3:::bucket-a"),
            200,
            vec![finding(
                "s3-public-acl",
                "AllUsers READ and WRITE",
                vec![grant(&["READ"]), grant(&["WRITE", "READ_ACP"])],
            )],
        ),
        state(
            "AWS::IAM::User",
            "AIDAEXAMPLE",
            Some(&format!("arn:aws:iam::{ACCOUNT}:user/alice")),
            200,
            any("iam-policy-admin-star"),
        ),
        state(
            "AWS::IAM::Role",
            "AROAEXAMPLE",
            Some(&format!("arn:aws:iam::{ACCOUNT}:role/deployer")),
            200,
            any("iam-role-trust-public"),
        ),
        state(
            "AWS::IAM::Group",
            "AGPAEXAMPLE",
            Some(&format!("arn:aws:iam::{ACCOUNT}:group/admins")),
            200,
            any("iam-policy-admin-star"),
        ),
    ]
}

/// A security group with tcp/22 open to the whole Internet (110 points: the disable level),
/// at `revision`.
pub fn ssh_group(id: &str, revision: u64) -> RiskState {
    let mut s = state(
        "AWS::EC2::SecurityGroup",
        id,
        Some(&format!(
            "arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{id}"
        )),
        110,
        vec![finding(
            "sg-world-admin-ports",
            "tcp/22 open to 0.0.0.0/0",
            vec![ingress(22, "0.0.0.0/0")],
        )],
    );
    s.revision = revision;
    s
}

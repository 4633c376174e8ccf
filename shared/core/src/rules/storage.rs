//! Data stores: S3 buckets, RDS instances and snapshots, EBS volumes, EFS file systems.

use serde_json::Value;

use super::RuleInputs;
use super::{Finding, FindingClass, KrampusRemedy, Remedy, Rule, RuleInfo, Severity};
use crate::item::ConfigItem;
use crate::json::{self, FieldError};

pub(crate) const S3: &[&str] = &["AWS::S3::Bucket"];
const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// The bucket's public access block, if Config recorded one. Absent means unknown, not off.
fn public_access_block(item: &ConfigItem) -> Result<Option<[Option<bool>; 4]>, FieldError> {
    let Some(v) = item.supplementary.get("PublicAccessBlockConfiguration") else {
        return Ok(None);
    };
    let v = json::decoded(v);
    match v.as_ref() {
        Value::Null => Ok(None),
        Value::Object(_) => {
            let flag =
                |k: &str| json::opt_bool(v.get(k), &format!("PublicAccessBlockConfiguration.{k}"));
            Ok(Some([
                flag("blockPublicAcls")?,
                flag("ignorePublicAcls")?,
                flag("blockPublicPolicy")?,
                flag("restrictPublicBuckets")?,
            ]))
        }
        other => Err(FieldError::new(
            "PublicAccessBlockConfiguration",
            "an object",
            other,
        )),
    }
}

/// True when the bucket's own block makes public grants of this kind ineffective.
pub(crate) fn s3_blocks(item: &ConfigItem, acl: bool) -> Result<bool, FieldError> {
    Ok(match public_access_block(item)? {
        Some([_, ignore_acls, _, restrict]) => {
            if acl {
                ignore_acls == Some(true)
            } else {
                restrict == Some(true)
            }
        }
        None => false,
    })
}

fn group_uri(grantee: &Value) -> Option<&'static str> {
    let name = match grantee {
        Value::String(s) => s.as_str(),
        Value::Object(_) => grantee
            .get("uri")
            .or_else(|| grantee.get("URI"))
            .and_then(Value::as_str)?,
        _ => return None,
    };
    if name == "AllUsers" || name == ALL_USERS {
        Some(ALL_USERS)
    } else if name == "AuthenticatedUsers" || name == AUTHENTICATED_USERS {
        Some(AUTHENTICATED_USERS)
    } else {
        None
    }
}

/// S3's name of an ACL permission, from AWS Config's spelling (`Read`, `Write`, `ReadAcp`,
/// `WriteAcp`, `FullControl`) or S3's own.
pub fn s3_permission(config: &str) -> Option<&'static str> {
    Some(match config {
        "Read" | "READ" => "READ",
        "Write" | "WRITE" => "WRITE",
        "ReadAcp" | "READ_ACP" => "READ_ACP",
        "WriteAcp" | "WRITE_ACP" => "WRITE_ACP",
        "FullControl" | "FULL_CONTROL" => "FULL_CONTROL",
        _ => return None,
    })
}

pub struct S3PublicAcl;
static S3_ACL: RuleInfo = RuleInfo {
    id: "s3-public-acl",
    class: FindingClass::Exposure,
    severity: Severity::Critical,
    resource_types: S3,
    checks: "The bucket ACL grants access to AllUsers (anyone) or AuthenticatedUsers (any AWS account), and the bucket does not ignore public ACLs.",
    remediation: "Remove the grant (`aws s3api put-bucket-acl --acl private`) and enable S3 Block Public Access.",
    krampus: KrampusRemedy::RemoveS3Grant,
};
impl Rule for S3PublicAcl {
    fn info(&self) -> &'static RuleInfo {
        &S3_ACL
    }
    fn evaluate(
        &self,
        item: &ConfigItem,
        _: &RuleInputs<'_>,
        out: &mut Vec<Finding>,
    ) -> Result<(), FieldError> {
        let Some(acl) = item.supplementary.get("AccessControlList") else {
            return Ok(());
        };
        let acl = json::decoded(acl);
        let acl = match acl.as_ref() {
            Value::Null => return Ok(()),
            a @ Value::Object(_) => a,
            other => return Err(FieldError::new("AccessControlList", "an ACL object", other)),
        };
        let mut grants: Vec<(&'static str, Vec<String>)> = Vec::new();
        for list in ["grantList", "grantSet"] {
            for g in json::opt_array(acl.get(list), list)? {
                let Some(uri) = g.get("grantee").and_then(group_uri) else {
                    continue;
                };
                let perm = json::opt_str(g.get("permission"), "grantList[].permission")?
                    .unwrap_or("unknown");
                // Config spells S3's permissions `Read`, `FullControl`...; Krampus compares
                // S3's own names, exactly. An unknown one stays as it is: no task carries it.
                let perm = s3_permission(perm).unwrap_or(perm).to_owned();
                match grants.iter_mut().find(|(u, _)| *u == uri) {
                    Some((_, perms)) if !perms.contains(&perm) => perms.push(perm),
                    Some(_) => {}
                    None => grants.push((uri, vec![perm])),
                }
            }
        }
        if grants.is_empty() || s3_blocks(item, true)? {
            return Ok(());
        }
        let evidence = grants
            .iter()
            .map(|(uri, perms)| {
                let who = uri.rsplit('/').next().unwrap_or(uri);
                format!("ACL grants {} to {who}", perms.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ");
        let mut f = S3_ACL.finding(evidence);
        f.remedies = grants
            .into_iter()
            .map(|(principal, permissions)| Remedy::RemoveS3Grant {
                principal: principal.to_owned(),
                permissions,
            })
            .collect();
        out.push(f);
        Ok(())
    }
}

pub struct S3BlockPublicAccessOff;
static S3_PAB: RuleInfo = RuleInfo {
    id: "s3-block-public-access-off",
    class: FindingClass::Hygiene,
    severity: Severity::Medium,
    resource_types: S3,
    checks: "The bucket records a public access block with at least one of its four settings off.",
    remediation:
        "Turn on all four Block Public Access settings unless the bucket must serve the public.",
    krampus: KrampusRemedy::None,
};
impl Rule for S3BlockPublicAccessOff {
    fn info(&self) -> &'static RuleInfo {
        &S3_PAB
    }
    fn evaluate(
        &self,
        item: &ConfigItem,
        _: &RuleInputs<'_>,
        out: &mut Vec<Finding>,
    ) -> Result<(), FieldError> {
        let Some(flags) = public_access_block(item)? else {
            return Ok(());
        };
        const NAMES: [&str; 4] = [
            "blockPublicAcls",
            "ignorePublicAcls",
            "blockPublicPolicy",
            "restrictPublicBuckets",
        ];
        let off: Vec<&str> = NAMES
            .iter()
            .zip(flags)
            .filter(|(_, v)| *v == Some(false))
            .map(|(n, _)| *n)
            .collect();
        if !off.is_empty() {
            out.push(S3_PAB.finding(format!("block public access off: {}", off.join(", "))));
        }
        Ok(())
    }
}

/// A rule that one boolean of the configuration breaks when it has the `bad` value (absent
/// is not bad: Config records no field for what the resource does not have). The boolean is
/// the first of `keys` the item records (the same setting has two names on some types).
pub struct FlagRule {
    info: &'static RuleInfo,
    keys: &'static [&'static str],
    bad: bool,
    evidence: &'static str,
}

impl Rule for FlagRule {
    fn info(&self) -> &'static RuleInfo {
        self.info
    }
    fn evaluate(
        &self,
        item: &ConfigItem,
        _: &RuleInputs<'_>,
        out: &mut Vec<Finding>,
    ) -> Result<(), FieldError> {
        let Some(key) = self.keys.iter().find(|k| item.config(k).is_some()) else {
            return Ok(());
        };
        if json::opt_bool(item.config(key), key)? == Some(self.bad) {
            out.push(self.info.finding(self.evidence.to_owned()));
        }
        Ok(())
    }
}

static RDS_PUBLIC: RuleInfo = RuleInfo {
    id: "rds-instance-public",
    class: FindingClass::Exposure,
    severity: Severity::High,
    resource_types: &["AWS::RDS::DBInstance"],
    checks: "The database instance is publicly accessible (it has an Internet-resolvable address).",
    remediation:
        "Modify the instance with `--no-publicly-accessible` and reach it through the VPC.",
    krampus: KrampusRemedy::ResourceAction,
};
pub static RDS_INSTANCE_PUBLIC: FlagRule = FlagRule {
    info: &RDS_PUBLIC,
    keys: &["publiclyAccessible"],
    bad: true,
    evidence: "publiclyAccessible is true",
};

static RDS_ENC: RuleInfo = RuleInfo {
    id: "rds-storage-unencrypted",
    class: FindingClass::Hygiene,
    severity: Severity::Medium,
    resource_types: &["AWS::RDS::DBInstance", "AWS::RDS::DBCluster"],
    checks: "The database's storage is not encrypted at rest.",
    remediation:
        "Restore an encrypted copy from a snapshot copied with a KMS key, then switch over.",
    krampus: KrampusRemedy::ResourceAction,
};
pub static RDS_STORAGE_UNENCRYPTED: FlagRule = FlagRule {
    info: &RDS_ENC,
    keys: &["storageEncrypted"],
    bad: false,
    evidence: "storageEncrypted is false",
};

const SNAPSHOTS: &[&str] = &["AWS::RDS::DBSnapshot", "AWS::RDS::DBClusterSnapshot"];

pub struct RdsSnapshotPublic;
static RDS_SNAP_PUBLIC: RuleInfo = RuleInfo {
    id: "rds-snapshot-public",
    class: FindingClass::Exposure,
    severity: Severity::Critical,
    resource_types: SNAPSHOTS,
    checks: "The snapshot's `restore` attribute includes `all`: any AWS account can copy the data.",
    remediation: "Remove `all` from the snapshot's restore attribute (`modify-db-snapshot-attribute --values-to-remove all`).",
    krampus: KrampusRemedy::ResourceAction,
};
impl Rule for RdsSnapshotPublic {
    fn info(&self) -> &'static RuleInfo {
        &RDS_SNAP_PUBLIC
    }
    fn evaluate(
        &self,
        item: &ConfigItem,
        _: &RuleInputs<'_>,
        out: &mut Vec<Finding>,
    ) -> Result<(), FieldError> {
        for key in ["DBSnapshotAttributes", "DBClusterSnapshotAttributes"] {
            let Some(attrs) = item.supplementary.get(key) else {
                continue;
            };
            let attrs = json::decoded(attrs);
            for a in json::opt_array(Some(attrs.as_ref()), key)? {
                let name = json::opt_str(a.get("attributeName"), "attributeName")?;
                if name != Some("restore") {
                    continue;
                }
                let values = json::opt_array(a.get("attributeValues"), "attributeValues")?;
                if values.iter().any(|v| v.as_str() == Some("all")) {
                    out.push(RDS_SNAP_PUBLIC.finding("restore attribute includes `all`".into()));
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

static RDS_SNAP_ENC: RuleInfo = RuleInfo {
    id: "rds-snapshot-unencrypted",
    class: FindingClass::Hygiene,
    severity: Severity::Medium,
    resource_types: SNAPSHOTS,
    checks: "The snapshot is not encrypted.",
    remediation: "Copy the snapshot with a KMS key and delete the unencrypted one.",
    krampus: KrampusRemedy::ResourceAction,
};
pub static RDS_SNAPSHOT_UNENCRYPTED: FlagRule = FlagRule {
    info: &RDS_SNAP_ENC,
    keys: &["encrypted", "storageEncrypted"],
    bad: false,
    evidence: "snapshot is not encrypted",
};

static EBS_ENC: RuleInfo = RuleInfo {
    id: "ebs-volume-unencrypted",
    class: FindingClass::Hygiene,
    severity: Severity::Medium,
    resource_types: &["AWS::EC2::Volume"],
    checks: "The EBS volume is not encrypted.",
    remediation: "Snapshot the volume, copy the snapshot with encryption, create a new volume from it; turn on EBS encryption by default.",
    krampus: KrampusRemedy::ResourceAction,
};
pub static EBS_VOLUME_UNENCRYPTED: FlagRule = FlagRule {
    info: &EBS_ENC,
    keys: &["encrypted"],
    bad: false,
    evidence: "volume is not encrypted",
};

static EFS_ENC: RuleInfo = RuleInfo {
    id: "efs-unencrypted",
    class: FindingClass::Hygiene,
    severity: Severity::Medium,
    resource_types: &["AWS::EFS::FileSystem"],
    checks: "The EFS file system is not encrypted at rest.",
    remediation: "Create an encrypted file system and copy the data with AWS DataSync.",
    krampus: KrampusRemedy::None,
};
pub static EFS_UNENCRYPTED: FlagRule = FlagRule {
    info: &EFS_ENC,
    keys: &["Encrypted"],
    bad: false,
    evidence: "file system is not encrypted",
};

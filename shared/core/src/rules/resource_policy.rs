//! Resource policies open to everyone: S3 buckets, Lambda functions, SQS queues.

use serde_json::Value;

use super::storage::{s3_blocks, S3};
use super::RuleInputs;
use super::{Finding, FindingClass, KrampusRemedy, Rule, RuleInfo, Severity};
use crate::doc;
use crate::item::ConfigItem;
use crate::json::{self, FieldError};

/// Pushes a finding listing the public statements of the policy document `raw`, if any.
fn public_policy_finding(
    info: &'static RuleInfo,
    raw: Option<&Value>,
    field: &str,
    out: &mut Vec<Finding>,
) -> Result<(), FieldError> {
    let Some(raw) = raw else {
        return Ok(());
    };
    let Some(policy) = json::policy_document(raw, field)? else {
        return Ok(());
    };
    let public = doc::public_statements(&policy, field)?;
    if !public.is_empty() {
        out.push(info.finding(format!(
            "{} allows Principal `*` with no restricting condition",
            public.join(", ")
        )));
    }
    Ok(())
}

pub struct S3PublicPolicy;
static S3_POLICY: RuleInfo = RuleInfo {
    id: "s3-public-policy",
    class: FindingClass::Exposure,
    severity: Severity::Critical,
    resource_types: S3,
    checks: "The bucket policy allows Principal `*` without a condition that restricts it (aws:SourceVpce, aws:SourceIp, aws:PrincipalOrgID, …), and the bucket does not restrict public buckets.",
    remediation: "Narrow the statement's Principal or add a restricting condition; enable Block Public Access.",
    krampus: KrampusRemedy::ResourceAction,
};
impl Rule for S3PublicPolicy {
    fn info(&self) -> &'static RuleInfo {
        &S3_POLICY
    }
    fn evaluate(
        &self,
        item: &ConfigItem,
        _: &RuleInputs<'_>,
        out: &mut Vec<Finding>,
    ) -> Result<(), FieldError> {
        let Some(bp) = item.supplementary.get("BucketPolicy") else {
            return Ok(());
        };
        let bp = json::decoded(bp);
        let text = match bp.as_ref() {
            Value::Null => return Ok(()),
            Value::Object(_) => bp.get("policyText"),
            other => return Err(FieldError::new("BucketPolicy", "an object", other)),
        };
        if s3_blocks(item, false)? {
            return Ok(());
        }
        public_policy_finding(&S3_POLICY, text, "BucketPolicy.policyText", out)
    }
}

pub struct LambdaPolicyPublic;
static LAMBDA_POLICY: RuleInfo = RuleInfo {
    id: "lambda-policy-public",
    class: FindingClass::Exposure,
    severity: Severity::Critical,
    resource_types: &["AWS::Lambda::Function"],
    checks: "The function's resource policy lets anyone invoke it (Principal `*` with no restricting condition, including a function URL with auth type NONE).",
    remediation: "Remove the statement (`aws lambda remove-permission`) or add aws:SourceArn / aws:SourceAccount conditions.",
    krampus: KrampusRemedy::ResourceAction,
};
impl Rule for LambdaPolicyPublic {
    fn info(&self) -> &'static RuleInfo {
        &LAMBDA_POLICY
    }
    fn evaluate(
        &self,
        item: &ConfigItem,
        _: &RuleInputs<'_>,
        out: &mut Vec<Finding>,
    ) -> Result<(), FieldError> {
        public_policy_finding(
            &LAMBDA_POLICY,
            item.supplementary.get("Policy"),
            "Policy",
            out,
        )
    }
}

pub struct SqsPolicyPublic;
static SQS_POLICY: RuleInfo = RuleInfo {
    id: "sqs-policy-public",
    class: FindingClass::Exposure,
    severity: Severity::High,
    resource_types: &["AWS::SQS::Queue"],
    checks: "The queue policy lets anyone send or receive (Principal `*` with no restricting condition).",
    remediation: "Replace Principal `*` with the sending accounts or services, with aws:SourceArn conditions.",
    krampus: KrampusRemedy::None,
};
impl Rule for SqsPolicyPublic {
    fn info(&self) -> &'static RuleInfo {
        &SQS_POLICY
    }
    fn evaluate(
        &self,
        item: &ConfigItem,
        _: &RuleInputs<'_>,
        out: &mut Vec<Finding>,
    ) -> Result<(), FieldError> {
        public_policy_finding(&SQS_POLICY, item.config("Policy"), "Policy", out)
    }
}

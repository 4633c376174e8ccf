//! IAM: administrator policies and role trust open to everyone.

use serde_json::Value;

use super::RuleInputs;
use super::{Finding, FindingClass, KrampusRemedy, Rule, RuleInfo, Severity};
use crate::doc;
use crate::item::ConfigItem;
use crate::json::{self, FieldError};

/// The policy documents an IAM item grants with, named for evidence: a managed policy's
/// default version, or a role's / user's / group's inline policies.
fn granted_documents(item: &ConfigItem) -> Result<Vec<(String, Value)>, FieldError> {
    let mut docs = Vec::new();
    if item.resource_type == "AWS::IAM::Policy" {
        let versions = json::opt_array(item.config("policyVersionList"), "policyVersionList")?;
        for (i, v) in versions.iter().enumerate() {
            let default = json::opt_bool(v.get("isDefaultVersion"), "isDefaultVersion")?;
            if default == Some(false) {
                continue;
            }
            let field = format!("policyVersionList[{i}].document");
            if let Some(d) =
                json::policy_document(v.get("document").unwrap_or(&Value::Null), &field)?
            {
                let id = v
                    .get("versionId")
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                docs.push((format!("version {}", crate::text::quote(id, 16)), d));
            }
        }
        return Ok(docs);
    }
    for list in ["rolePolicyList", "userPolicyList", "groupPolicyList"] {
        for (i, p) in json::opt_array(item.config(list), list)?.iter().enumerate() {
            let field = format!("{list}[{i}].policyDocument");
            let raw = p.get("policyDocument").unwrap_or(&Value::Null);
            if let Some(d) = json::policy_document(raw, &field)? {
                let name = p
                    .get("policyName")
                    .and_then(Value::as_str)
                    .unwrap_or("inline");
                docs.push((
                    format!("inline policy `{}`", crate::text::quote(name, 64)),
                    d,
                ));
            }
        }
    }
    Ok(docs)
}

pub struct IamAdminStar;
static IAM_ADMIN: RuleInfo = RuleInfo {
    id: "iam-policy-admin-star",
    class: FindingClass::Hygiene,
    severity: Severity::Critical,
    resource_types: &["AWS::IAM::Policy", "AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"],
    checks: "A managed policy's default version or an inline policy allows action `*` on resource `*`.",
    remediation: "Replace the statement with the actions and resources the principal needs (IAM Access Analyzer can generate one from activity).",
    krampus: KrampusRemedy::ResourceAction,
};
impl Rule for IamAdminStar {
    fn info(&self) -> &'static RuleInfo {
        &IAM_ADMIN
    }
    fn evaluate(
        &self,
        item: &ConfigItem,
        _: &RuleInputs<'_>,
        out: &mut Vec<Finding>,
    ) -> Result<(), FieldError> {
        let mut hits = Vec::new();
        for (name, d) in granted_documents(item)? {
            let stmts = doc::statements(&d, &name)?;
            if let Some((i, s)) = stmts
                .iter()
                .enumerate()
                .find(|(_, s)| doc::is_admin_star(s))
            {
                hits.push(format!("{name} {}", doc::describe(s, i)));
            }
        }
        if !hits.is_empty() {
            out.push(IAM_ADMIN.finding(format!("{} allows `*` on `*`", hits.join("; "))));
        }
        Ok(())
    }
}

pub struct IamRoleTrustPublic;
static IAM_TRUST: RuleInfo = RuleInfo {
    id: "iam-role-trust-public",
    class: FindingClass::Exposure,
    severity: Severity::Critical,
    resource_types: &["AWS::IAM::Role"],
    checks: "The role's trust policy lets any AWS principal assume it (Principal `*` with no restricting condition such as aws:PrincipalOrgID or sts:ExternalId).",
    remediation: "Name the trusted accounts or roles in the trust policy, or add an aws:PrincipalOrgID condition.",
    krampus: KrampusRemedy::ResourceAction,
};
impl Rule for IamRoleTrustPublic {
    fn info(&self) -> &'static RuleInfo {
        &IAM_TRUST
    }
    fn evaluate(
        &self,
        item: &ConfigItem,
        _: &RuleInputs<'_>,
        out: &mut Vec<Finding>,
    ) -> Result<(), FieldError> {
        let raw = item
            .config("assumeRolePolicyDocument")
            .unwrap_or(&Value::Null);
        let Some(d) = json::policy_document(raw, "assumeRolePolicyDocument")? else {
            return Ok(());
        };
        let public = doc::public_statements(&d, "assumeRolePolicyDocument")?;
        if !public.is_empty() {
            out.push(IAM_TRUST.finding(format!(
                "trust policy {} lets any principal assume the role",
                public.join(", ")
            )));
        }
        Ok(())
    }
}

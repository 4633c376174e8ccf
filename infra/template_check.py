"""Proves the wiring of template.yaml (run by infra/template.sh, in the cfn-lint venv):

1. every function's environment names only variables its configuration reads (read from the
   function's `src/config.rs`), sets every variable it requires, and refers only to resources,
   parameters and pseudo-parameters that exist;
2. every event source has a failure path (dead-letter queue, on-failure destination, redrive);
3. every role statement names only this stack's resources, never a `*` action, and a
   `Resource: "*"` only under a comment saying why;
4. every alarm on the engine's own metrics (namespace JusticeEngine) watches a metric a
   function writes, with the dimensions it writes it with: CloudWatch matches a metric by its
   exact dimensions, so an alarm without them watches nothing and never fires.
5. the operations page (docs/operations.md) keeps up: every alarm has a section headed by its
   logical id, and every metric a function counts has a row in its metrics table (code -> docs:
   a metric documented before its code lands is not a problem).

Exit status 1 with every problem listed.
"""

import re
import sys
from pathlib import Path

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
PSEUDO = {"AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::StackName", "AWS::NoValue", "AWS::URLSuffix"}

problems = []


def problem(msg):
    problems.append(msg)


def refs(node):
    """Every name a node refers to through Ref, GetAtt or Sub."""
    out = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "Ref":
                out.add(v)
            elif k == "Fn::GetAtt":
                out.add(v[0] if isinstance(v, list) else v.split(".")[0])
            elif k == "Fn::Sub":
                text, variables = (v, {}) if isinstance(v, str) else (v[0], v[1])
                local = set(variables)
                for name in re.findall(r"\$\{([^}!]+)\}", text):
                    base = name.split(".")[0]
                    if base not in local:
                        out.add(base)
                out |= refs(variables)
            else:
                out |= refs(v)
    elif isinstance(node, list):
        for v in node:
            out |= refs(v)
    return out


def config_vars(binary):
    """Variables a function reads, and those it requires, from its config.rs."""
    src = (ROOT / "functions" / binary / "src" / "config.rs").read_text()
    reads = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', src))
    required = set(re.findall(r'(?:required|accounts)\("([A-Z][A-Z0-9_]+)"\)', src))
    # Read by every function's main.rs (tracing filter).
    reads.add("LOG_LEVEL")
    return reads, required


def main():
    template, matches = decode(str(TEMPLATE))
    if matches:
        for m in matches:
            problem(f"template does not parse: {m}")
        return
    resources = template["Resources"]
    known = set(resources) | set(template.get("Parameters", {})) | PSEUDO
    conditions = set(template.get("Conditions", {}))

    # 1. Environments.
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    binaries = {}
    for name, fn in functions.items():
        binary = fn.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        if not binary or not (ROOT / "functions" / binary / "src" / "main.rs").exists():
            problem(f"{name}: BuildProperties.Binary {binary!r} is not a function crate")
            continue
        binaries[name] = binary
        reads, required = config_vars(binary)
        env = fn["Properties"].get("Environment", {}).get("Variables", {})
        for var, value in env.items():
            if var not in reads:
                problem(f"{name}: sets {var}, which functions/{binary} never reads")
            for r in refs(value):
                if r not in known:
                    problem(f"{name}: {var} refers to {r!r}, which is not in the template")
        for var in sorted(required - set(env)):
            problem(f"{name}: functions/{binary} requires {var}, which is not set")
        for cond in re.findall(r"'Fn::If': \['(\w+)'", str(env)):
            if cond not in conditions:
                problem(f"{name}: condition {cond} does not exist")
    if sorted(binaries.values()) != ["judge", "notifier", "scorer"]:
        problem(f"the three functions are not all deployed: {sorted(binaries.values())}")

    # 2. Failure paths.
    for name, fn in functions.items():
        props = fn["Properties"]
        for ev_name, ev in props.get("Events", {}).items():
            p = ev.get("Properties", {})
            kind = ev["Type"]
            if kind in ("EventBridgeRule", "Schedule"):
                ok = "DeadLetterConfig" in p
            elif kind in ("DynamoDB", "Kinesis", "SQS"):
                ok = "OnFailure" in p.get("DestinationConfig", {}) and p.get("BisectBatchOnFunctionError") is True and "ReportBatchItemFailures" in p.get("FunctionResponseTypes", [])
            else:
                ok = False
            if not ok:
                problem(f"{name}.{ev_name} ({kind}): no failure path")
            for r in refs(p) - known:
                problem(f"{name}.{ev_name}: refers to {r!r}, which is not in the template")
    invoked_async = {v["Properties"]["FunctionName"].get("Ref") for v in resources.values() if v["Type"] == "AWS::Lambda::Permission"}
    for fname in invoked_async:
        fn = functions.get(fname, {}).get("Properties", {})
        has_invoke_config = any(
            v["Type"] == "AWS::Lambda::EventInvokeConfig"
            and v["Properties"]["FunctionName"].get("Ref") == fname
            and "OnFailure" in v["Properties"].get("DestinationConfig", {})
            for v in resources.values()
        )
        if "DeadLetterQueue" not in fn and not has_invoke_config:
            problem(f"{fname}: invoked asynchronously (a Lambda permission) without a DLQ or on-failure destination")
    for name, r in resources.items():
        if r["Type"] == "AWS::SNS::Subscription" and r["Properties"].get("Protocol") == "lambda":
            if "RedrivePolicy" not in r["Properties"]:
                problem(f"{name}: SNS subscription without a redrive policy")

    # 3. Roles.
    raw = TEMPLATE.read_text().splitlines()
    star_lines = [i for i, line in enumerate(raw) if re.match(r'\s*Resource:\s*"\*"', line)]
    for i in star_lines:
        if not raw[i - 1].strip().startswith("#"):
            problem(f"template.yaml:{i + 1}: Resource \"*\" without a comment saying why")
    roles = {k: v for k, v in resources.items() if v["Type"] == "AWS::IAM::Role"}
    for name, role in roles.items():
        if role["Properties"].get("ManagedPolicyArns"):
            problem(f"{name}: managed policies grant more than the functions use")
        for pol in role["Properties"].get("Policies", []):
            for st in pol["PolicyDocument"]["Statement"]:
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                for a in actions:
                    if "*" in a:
                        problem(f"{name}: wildcard action {a}")
                res = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
                for r in res:
                    if r == "*":
                        continue  # commented, checked above
                    names = refs(r)
                    if isinstance(r, str) or not names:
                        problem(f"{name}.{st.get('Sid')}: literal resource {r!r} is not this stack's")
                    for n in names - PSEUDO:
                        if n not in known:
                            problem(f"{name}.{st.get('Sid')}: refers to {n!r}, which is not in the template")
    used_roles = {fn["Properties"].get("Role", {}).get("Fn::GetAtt", [None])[0] for fn in functions.values()}
    if len(used_roles) != len(functions) or None in used_roles:
        problem("each function must have a role of its own")

    # 4. Alarms on the engine's metrics. What a function writes is read from its lib: the
    # metrics it counts (`.count("Name", …)`) and the dimensions it sets (`.dimension("Name", …)`).
    written = {}
    for lib in (ROOT / "functions").glob("*/src/lib.rs"):
        src = lib.read_text()
        dims = set(re.findall(r'\.dimension\(\s*"(\w+)"', src))
        for metric in re.findall(r'\.count\(\s*"(\w+)"', src):
            written.setdefault(metric, []).append(dims)
    for name, r in resources.items():
        if r["Type"] != "AWS::CloudWatch::Alarm" or r["Properties"].get("Namespace") != "JusticeEngine":
            continue
        props = r["Properties"]
        metric = props.get("MetricName")
        alarm_dims = {d["Name"] for d in props.get("Dimensions", [])}
        if metric not in written:
            problem(f"{name}: no function writes the metric {metric!r}")
        elif not alarm_dims or not any(alarm_dims <= dims for dims in written[metric]):
            problem(f"{name}: {metric} is written with dimensions {sorted(set().union(*written[metric]))}, the alarm names {sorted(alarm_dims)}")

    # 5. The operations page: a heading per alarm (its logical id, backticks allowed), and a row
    # of a table (the metrics table) per metric counted in a function's lib.
    page = ROOT / "docs" / "operations.md"
    if not page.exists():
        problem("docs/operations.md is missing")
        return
    # Outside fenced code blocks, where a shell comment looks like a heading.
    text = re.sub(r"^[ \t]*```.*?^[ \t]*```", "", page.read_text(), flags=re.M | re.S)
    headings = {h.strip("` ") for h in re.findall(r"^#{1,6}[ \t]+(.+?)[ \t]*$", text, re.M)}
    # The first cell of each row of a table: `| `Name` | ...`.
    rows = set(re.findall(r"^\|\s*`?(\w+)`?\s*\|", text, re.M))
    for name in sorted(k for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"):
        if name not in headings:
            problem(f"{name}: no section headed {name} in docs/operations.md")
    for metric in sorted(written):
        if metric not in rows:
            problem(f"metric {metric} (counted in functions/*/src/lib.rs) has no row in docs/operations.md's metrics table")


if __name__ == "__main__":
    main()
    for p in problems:
        print(p)
    print(f"template wiring: {len(problems)} problem(s)")
    sys.exit(1 if problems else 0)

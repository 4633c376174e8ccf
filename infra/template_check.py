"""Proves the wiring of template.yaml (run by infra/template.sh, in the cfn-lint venv):

1. every function's environment names only variables its configuration reads (read from the
   function's `src/config.rs`), sets every variable it requires, and refers only to resources,
   parameters and pseudo-parameters that exist;
2. every event source has a failure path (dead-letter queue, on-failure destination, redrive);
3. every role statement names only this stack's resources, never a `*` action, and a
   `Resource: "*"` only under a comment saying why;
4. every alarm on the engine's own metrics (namespace JusticeEngine) watches a metric a
   function writes, with the dimensions it writes it with, and a dimension value the code names
   (`Function` = `scorer`) spelled as the code writes it: CloudWatch matches a metric by its
   exact dimensions, so an alarm without them, or with a typo, watches nothing and never fires.
5. the operations page (docs/operations.md) keeps up: every alarm has a section headed by its
   logical id, and every metric a function counts has a row in its metrics table (code -> docs:
   a metric documented before its code lands is not a problem).
6. every AWS operation a function's code can call is allowed by that function's role (moto, the
   tests' AWS, enforces no IAM, so a missing action passes every test and fails in AWS). The
   operations are read from the adapters (`shared/aws/src/*.rs`: an SDK fluent call on a client,
   `client.get_item()` ... `.send()`), each under the adapter function it is made in; which of
   those a Lambda function really reaches is the table `REACHES` below, written by reading the
   wiring (`functions/*/src`) and the service (`shared/service/src`). The table must match
   the code: an operation no function's table names, a table entry the code no longer has, or an
   adapter a function's lib builds without a table entry is a problem, so a new call forces the
   table (and the role) to be revisited.

7. every SNS topic a function can publish to is one its role's `sns:Publish` names, and no
   other: each `*_TOPIC_ARN` variable of its environment (a Ref of the topic), and, for
   `TEAM_TOPIC_PREFIX`, the topics of this account and region named with that prefix (the code
   sends a team's own topic only when it matches: `outbox::team_topic_allowed`).

8. the member template (infra/member.yaml) agrees with template.yaml: its rule on the member's
   default bus has the same event pattern as the scorer's rule (so a forwarded event, which keeps
   its source and detail-type, matches the scorer's rule), the scorer's rule is on this stack's
   default bus, and every target is the default bus of `CentralAccountId` (in `CentralRegion` or
   the member's region), sent with a role that may `events:PutEvents` to that bus only, with a
   dead-letter queue; its read role allows exactly the AWS Config actions the scorer's role
   allows; and template.yaml's default-bus policy lets the senders in, for both values of
   `OrganizationId`: empty, the accounts of `AllowedAccounts`; set, that organization's
   principals (`aws:PrincipalOrgID`), and in no case any principal without that condition.

Usage: template_check.py [TEMPLATE [MEMBER]] (defaults: template.yaml at the repository root and
infra/member.yaml).
Exit status 1 with every problem listed.
"""

import fnmatch
import json
import re
import sys
from pathlib import Path

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
MEMBER = ROOT / "infra" / "member.yaml"
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



# 6. What each Lambda function really reaches of the adapters: adapter file -> adapter function
# (the Rust fn the SDK call is written in) -> the API operations made there. Read from the wiring
# (what `App::from_env` builds) and from the service (which port methods the function's service
# calls). An empty file entry says: the lib builds a type of that file, but none of its calls
# are reached. Transactions are expanded by the check from what the code puts in them.
REACHES = {
    # App::from_env: DynamoRiskStore (as RiskStore), AwsConfigSource, PolicyProvider,
    # SqsDeadLetters. Scorer::score_event / jobs::run (rescore, backfill, reevaluate).
    "scorer": {
        "risk_store.rs": {
            # load (Scorer::apply, rescore_one: the state) and job_cursor (jobs::backfill,
            # jobs::reevaluate), consistent.
            "read_item": ["GetItem"],
            "history": ["Query"],  # an item out of order: the resource's history
            "commit": ["TransactWriteItems"],  # a change event: history record + state
            # put_state_alone: commit without a record (re-score, re-evaluation)
            "put_alone": ["PutItem"],
            "set_job_cursor": ["PutItem", "DeleteItem"],  # save / clear a job's position
            "risky": ["Query"],  # Scorer::rescore: the risky-by-evaluated-at index
            "resources": ["Scan"],  # jobs::reevaluate: every state after a policy change
        },
        # DynamoRiskStore also implements DocketStore, but the scorer's service is generic
        # over RiskStore only: no DocketStore method is called.
        "docket_store.rs": {},
        "config_source.rs": {
            "fetch": ["GetResourceConfigHistory"],  # an oversized notification
            "discover": ["ListDiscoveredResources", "BatchGetResourceConfig"],  # back-fill
        },
        # The same two reads through CONFIG_AGGREGATOR, when it is set.
        "aggregate_source.rs": {
            "fetch_aggregate": ["GetAggregateResourceConfig"],
            "discover_aggregate": [
                "ListAggregateDiscoveredResources",
                "BatchGetAggregateResourceConfig",
            ],
        },
        "policy_source.rs": {"fetch": ["GetObject"]},  # POLICY_S3_URI, when set
        "lambda.rs": {"send": ["SendMessage"]},  # SqsDeadLetters::take (answer)
    },
    # App::from_env: DynamoRiskStore (as DocketStore + RiskStore), S3TaskBoard, SnsOutbox with
    # the sent log, PolicyProvider, SqsDeadLetters. Judge::judge.
    "judge": {
        # The store's helpers only: read_item for RiskStore::load (Judge::held_queue reads a
        # held resource's state) and for budget_used (reserve, after a lost race); put_alone
        # for save_docket (via save_dockets). The scorer's history, commit, jobs and scans are
        # never run by the judge.
        "risk_store.rs": {"read_item": ["GetItem"], "put_alone": ["PutItem"]},
        "docket_store.rs": {
            "dockets": ["BatchGetItem"],  # the batch's dockets, and stale tasks' dockets
            "open_index": ["Query"],  # via held_queue (the open-verdicts index, held partition)
            "reserve": ["UpdateItem"],  # the blast-radius budget
        },
        "task_board.rs": {
            "get": ["GetObject"],  # read (tasks.json), allow_list (WHITELIST_KEY)
            "write": ["PutObject"],  # tasks.json, conditional
            "record_verdict": ["PutObject"],  # verdicts/
        },
        "outbox.rs": {
            "alert_security": ["Publish"],  # hazards and holds to the security topic
            "was_sent": ["GetItem"],  # the sent log
            "mark_sent": ["PutItem"],
            # `publish` (owners' notices) is the notifier's: the judge never calls it.
        },
        "policy_source.rs": {"fetch": ["GetObject"]},
        "lambda.rs": {"send": ["SendMessage"]},  # SqsDeadLetters::take (judge)
    },
    # App::from_env: S3TaskBoard with the account map, SnsOutbox with the owner topic and the
    # sent log, DynamoRiskStore (as DocketStore and RiskStore), S3ReportShelf, PolicyProvider,
    # SqsDeadLetters. Notifier::notify_keys (S3 events), report::gather/publish and
    # Notifier::digest.
    "notifier": {
        # The report pages (report::gather): every risky state and its history.
        "risk_store.rs": {
            "read_item": ["GetItem"],  # load
            "history": ["Query"],
            "risky": ["Query"],  # the risky-by-evaluated-at index
        },
        # The report pages under REPORT_PREFIX (the role also allows GetObject there, what
        # their presigned links do: the task board's `get` already needs it).
        "report_shelf.rs": {"put": ["PutObject"]},
        # open_verdicts only (the digests' list); dockets, saves, held queue and budget are
        # the judge's.
        "docket_store.rs": {"open_index": ["Query"]},
        "task_board.rs": {
            # verdict (the record of an S3 event), account_map (MAPPING_KEY), read (the
            # digest's tasks.json). write and record_verdict are the judge's.
            "get": ["GetObject"],
        },
        "outbox.rs": {
            "publish": ["Publish"],  # notices and digests
            "was_sent": ["GetItem"],
            "mark_sent": ["PutItem"],
            # alert_security is the judge's: the notifier never calls it.
        },
        "policy_source.rs": {"fetch": ["GetObject"]},
        "lambda.rs": {"send": ["SendMessage"]},  # SqsDeadLetters::take (run)
    },
}

ADAPTERS = ROOT / "shared" / "aws" / "src"
# The SDK crate of a client -> the IAM service prefix.
SERVICES = {"aws_sdk_dynamodb": "dynamodb", "aws_sdk_s3": "s3", "aws_sdk_sns": "sns", "aws_sdk_sqs": "sqs", "aws_sdk_config": "config"}
# Operations whose IAM action is not their own name.
ACTIONS = {
    ("s3", "HeadObject"): ["s3:GetObject"],
    ("s3", "ListObjectsV2"): ["s3:ListBucket"],
    ("s3", "ListObjects"): ["s3:ListBucket"],
    ("s3", "ListObjectVersions"): ["s3:ListBucketVersions"],
    ("s3", "DeleteObjects"): ["s3:DeleteObject"],
    ("s3", "CopyObject"): ["s3:GetObject", "s3:PutObject"],
    ("dynamodb", "TransactGetItems"): ["dynamodb:GetItem"],
}
# The parts of a DynamoDB transaction (`TransactWriteItem::builder().put(…)`) -> their actions.
TRANSACT_PARTS = {"put": "PutItem", "update": "UpdateItem", "delete": "DeleteItem", "condition_check": "ConditionCheckItem"}
# Methods of an SDK client that are not operations.
NOT_OPERATIONS = {"clone", "config"}


def camel(snake):
    return "".join(w[:1].upper() + w[1:] for w in snake.split("_"))


def rust_code(path):
    """A Rust file without its test module and its whole-line comments."""
    src = path.read_text()
    src = re.split(r"#\[cfg\(test\)\]\s*mod\s+\w+", src)[0]
    return re.sub(r"^\s*//.*$", "", src, flags=re.M)


def adapter_functions(src):
    """(name, body) of each fn of a file: from its `fn` to the next one."""
    marks = list(re.finditer(r"\bfn\s+(\w+)", src))
    return [(m.group(1), src[m.start():(marks[i + 1].start() if i + 1 < len(marks) else len(src))]) for i, m in enumerate(marks)]


def crate_code(binary):
    """A function crate's code: every file of its `src/` (the lib and the modules it splits
    into), comments and strings as `rust_code` leaves them."""
    files = sorted((ROOT / "functions" / binary / "src").glob("*.rs"))
    return "\n".join(rust_code(p) for p in files)


def sdk_calls():
    """{(file, adapter fn): {operation: {"service", "actions"}}} of every SDK call in the adapters,
    and the adapter types each file defines or implements (what a function's lib names)."""
    sources = {p.name: rust_code(p) for p in sorted(ADAPTERS.glob("*.rs"))}

    def crate_of_client(src):
        """The crate `Client` means in a file (`use aws_sdk_x::Client` or `::{…, Client}`)."""
        m = re.search(r"use\s+(aws_sdk_\w+)::(?:Client\b|\{[^}]*\bClient\b)", src)
        return m.group(1) if m else None

    # Accessors returning a client (`fn client(&self) -> &Client`), callable from other files.
    accessors = {}
    for src in sources.values():
        for name, crate in re.findall(r"fn\s+(\w+)\s*\(&self\)\s*->\s*&(?:(aws_sdk_\w+)::)?Client\b", src):
            accessors[name] = crate or crate_of_client(src)
    # The adapter types: those holding a client, directly or through another (PolicyProvider).
    bodies = {name: body for src in sources.values() for name, body in re.findall(r"^(?:pub(?:\([^)]*\))?\s+)?(?:struct|enum)\s+(\w+)[^{;]*\{(.*?)^\}", src, re.M | re.S)}
    holders = {name for name, body in bodies.items() if re.search(r"\bClient\b", body)}
    while grown := {n for n, body in bodies.items() if n not in holders and any(re.search(rf"\b{h}\b", body) for h in holders)}:
        holders |= grown
    calls, types = {}, {}
    for file, src in sources.items():
        # Fields, parameters and bindings typed as a client: `client: Client`, `s3: &aws_sdk_s3::Client`.
        fields = {}
        for name, crate in re.findall(r"\b(\w+)\s*:\s*&?(?:(aws_sdk_\w+)::)?Client\b", src):
            fields.setdefault(name, set()).add(crate or crate_of_client(src))
        for name, crates in sorted(fields.items()):
            if len(crates) > 1:
                problem(f"shared/aws/src/{file}: `{name}` is a client of {sorted(map(str, crates))}: the check cannot tell which it calls")
        fields = {name: min(map(str, crates)) for name, crates in fields.items()}
        # What a function's lib names when it builds this file's adapters: the client holders
        # defined here, and those implemented here (docket_store.rs: DynamoRiskStore).
        defined = set(re.findall(r"^(?:pub(?:\([^)]*\))?\s+)?(?:struct|enum)\s+(\w+)", src, re.M))
        implemented = set(re.findall(r"^impl\b[^{]*?\b(?:for\s+)?(\w+)\s*(?:<[^{]*)?\{", src, re.M))
        types[file] = (defined | implemented) & holders
        for fn, body in adapter_functions(src):
            sends = [m.start() for m in re.finditer(r"\.send\(\)", body)]
            found, sites = {}, 0
            for m in re.finditer(r"\.\s*([a-z][a-z0-9_]*)\(\)", body):
                method = m.group(1)
                # The receiver: `self.client.get_item()`, `self.client().query()`, `log.dynamodb.put_item()`.
                recv = re.search(r"\b(\w+)\s*(\(\))?\s*$", body[:m.start()])
                if method in NOT_OPERATIONS or not recv or not any(s > m.start() for s in sends):
                    continue
                client, is_call = recv.groups()
                if is_call and client in accessors:
                    crate = accessors[client]
                elif not is_call and client in fields:
                    crate = fields[client]
                else:
                    continue
                op = camel(method)
                sites += 1
                service = SERVICES.get(crate)
                if service is None:
                    problem(f"shared/aws/src/{file}: {fn} calls {method} on a client of {crate or 'an unknown crate'}: no IAM service known for it")
                    continue
                if (service, op) == ("dynamodb", "TransactWriteItems"):
                    parts = re.findall(r"TransactWriteItem::builder\(\)\s*\.\s*(\w+)\(", body)
                    actions = sorted({f"dynamodb:{TRANSACT_PARTS[p]}" for p in parts if p in TRANSACT_PARTS})
                    if not actions or len(actions) < len({p for p in parts}):
                        problem(f"shared/aws/src/{file}: {fn}'s TransactWriteItems: cannot read its parts ({parts}); the check needs them to know the actions")
                else:
                    actions = ACTIONS.get((service, op), [f"{service}:{op}"])
                # S3 answers a missing key with 404 (NoSuchKey) only to who may list the bucket:
                # without s3:ListBucket it is 403, and code that reads "no object" from it breaks.
                why = {a: op for a in actions}
                if (service, op) in (("s3", "GetObject"), ("s3", "HeadObject")) and re.search(r"no_such_key|NoSuchKey|is_not_found|\bNotFound\b", body):
                    why["s3:ListBucket"] = f"{op}, which reads a missing key as 404"
                found.setdefault(op, {"service": service, "actions": {}})["actions"].update(why)
            if found:
                calls[(file, fn)] = found
            # Every call sent must be one the check has read (one `.send()` per call).
            if len(sends) > sites:
                problem(f"shared/aws/src/{file}: {fn} sends {len(sends)} AWS call(s), the check reads {sites} (a client it does not know?)")
    return calls, types


def attach_role_policies(resources):
    """Files each AWS::IAM::RolePolicy under the role it names (`RoleName: !Ref Role`), as
    `_attached`, so that role_statements reads it with the role's own (conditional or not: a
    condition may hold)."""
    for name, r in resources.items():
        if r["Type"] != "AWS::IAM::RolePolicy":
            continue
        role = resources.get(r["Properties"].get("RoleName", {}).get("Ref"))
        if not role or role["Type"] != "AWS::IAM::Role":
            problem(f"{name}: RoleName is not a role of the template")
            continue
        role.setdefault("_attached", []).append(r["Properties"])


def role_statements(role):
    """A role's inline-policy statements, and those of the role policies attached to it; a
    statement under `Fn::If` counts with each branch (a condition may hold), `AWS::NoValue`
    with none."""
    out = []
    for pol in role["Properties"].get("Policies", []) + role.get("_attached", []):
        for st in pol["PolicyDocument"]["Statement"]:
            branches = st["Fn::If"][1:] if isinstance(st, dict) and "Fn::If" in st else [st]
            out += [b for b in branches if b != {"Ref": "AWS::NoValue"}]
    return out


def allowed_actions(role):
    """The actions a role's inline policies allow (Allow statements, Action as string or list)."""
    out = []
    for st in role_statements(role):
        if st.get("Effect") != "Allow" or "Action" not in st:
            continue
        out += st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
    return out


def publish_resources(role):
    """The resources of a role's statements that allow sns:Publish, as written."""
    out = []
    for st in role_statements(role):
        actions = st.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        if st.get("Effect") == "Allow" and "sns:Publish" in actions:
            res = st.get("Resource", [])
            out += res if isinstance(res, list) else [res]
    return out


def check_topics(resources, functions):
    for name, fn in functions.items():
        role = fn["Properties"].get("Role", {})
        role_name = role.get("Fn::GetAtt", [None])[0] if isinstance(role, dict) else None
        if role_name not in resources:
            continue
        allowed = publish_resources(resources[role_name])
        env = fn["Properties"].get("Environment", {}).get("Variables", {})
        expected = []
        for var, value in sorted(env.items()):
            if var.endswith("_TOPIC_ARN"):
                expected.append(value)
            elif var == "TEAM_TOPIC_PREFIX":
                param = value.get("Ref") if isinstance(value, dict) else None
                expected.append(
                    {"Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:${%s}*" % param}
                )
        for e in expected:
            if e not in allowed:
                problem(f"{role_name} ({name}): sns:Publish does not allow {e}, which the function publishes to")
        for a in allowed:
            if a not in expected:
                problem(f"{role_name} ({name}): sns:Publish allows {a}, which the function never publishes to")


def check_permissions(resources, functions, binaries):
    calls, types = sdk_calls()
    # Every operation in the adapters is named by some function's table, and each table
    # entry names exactly the operations its adapter function makes.
    for (file, fn), ops in sorted(calls.items()):
        users = [b for b, t in REACHES.items() if fn in t.get(file, {})]
        if not users:
            problem(f"shared/aws/src/{file}: {fn} calls {', '.join(sorted(ops))}, which no function's REACHES table names (infra/template_check.py)")
        for b in users:
            for op in sorted(set(ops) - set(REACHES[b][file][fn])):
                problem(f"shared/aws/src/{file}: {fn} calls {op}, missing from REACHES[{b!r}][{file!r}][{fn!r}]")
    for b, table in sorted(REACHES.items()):
        lib_src = crate_code(b)
        for file, fns in sorted(table.items()):
            if file not in types:
                problem(f"REACHES[{b!r}] names shared/aws/src/{file}, which does not exist")
                continue
            if not any(re.search(rf"\b{t}\b", lib_src) for t in types[file]):
                problem(f"REACHES[{b!r}] names {file}, but functions/{b}/src/lib.rs builds none of its types ({', '.join(sorted(types[file]))})")
            for fn, ops in sorted(fns.items()):
                for op in sorted(set(ops) - set(calls.get((file, fn), {}))):
                    problem(f"REACHES[{b!r}][{file!r}][{fn!r}] names {op}, which shared/aws/src/{file}'s {fn} does not call")
        # An adapter with calls that the lib builds must have an entry (empty when unreached).
        for file in sorted({f for f, _ in calls} - set(table)):
            if any(re.search(rf"\b{t}\b", lib_src) for t in types[file]):
                problem(f"functions/{b}/src/lib.rs builds a type of {file}, which REACHES[{b!r}] does not list (list what it reaches, or {{}})")
        if re.search(r"\.send\(\)", lib_src):
            problem(f"functions/{b}/src/lib.rs sends an AWS call itself: the check reads only shared/aws/src")
    # Each function's role allows every action of what the function reaches.
    by_binary = {b: name for name, b in binaries.items()}
    for b, table in sorted(REACHES.items()):
        fname = by_binary.get(b)
        if fname is None:
            continue  # check 1 reports the function missing
        role_ref = functions[fname]["Properties"].get("Role", {})
        att = role_ref.get("Fn::GetAtt") if isinstance(role_ref, dict) else None
        role_name = (att[0] if isinstance(att, list) else att.split(".")[0]) if att else None
        role = resources.get(role_name)
        if not role or role["Type"] != "AWS::IAM::Role":
            problem(f"{fname}: its Role is not a role of this template ({role_ref!r})")
            continue
        allowed = [a.lower() for a in allowed_actions(role)]
        needed = {}
        for file, fns in table.items():
            for fn, ops in fns.items():
                for op in ops:
                    for action, why in calls.get((file, fn), {}).get(op, {}).get("actions", {}).items():
                        needed.setdefault(action, []).append(f"shared/aws/src/{file} {fn} ({why})")
        for action, where in sorted(needed.items()):
            if not any(fnmatch.fnmatchcase(action.lower(), a) for a in allowed):
                problem(f"{role_name} ({fname}) does not allow {action}, which its code needs: {'; '.join(where)}")


def canonical(pattern):
    """An event pattern with its arrays sorted (an array lists alternatives), for comparison."""
    if isinstance(pattern, dict):
        return {k: canonical(v) for k, v in pattern.items()}
    if isinstance(pattern, list):
        return sorted((canonical(v) for v in pattern), key=lambda v: json.dumps(v, sort_keys=True))
    return pattern


def as_list(node):
    return node if isinstance(node, list) else [node]


def eval_condition(node, conditions, params):
    """The value of a template condition for the given parameter values (others: their default)."""
    def value(n):
        if isinstance(n, dict) and "Ref" in n:
            return params.get(n["Ref"], ("unset", n["Ref"]))
        return n

    if isinstance(node, dict):
        if "Condition" in node:
            return eval_condition(conditions[node["Condition"]], conditions, params)
        if "Fn::Equals" in node:
            a, b = node["Fn::Equals"]
            return value(a) == value(b)
        if "Fn::Not" in node:
            return not eval_condition(node["Fn::Not"][0], conditions, params)
        if "Fn::And" in node:
            return all(eval_condition(c, conditions, params) for c in node["Fn::And"])
        if "Fn::Or" in node:
            return any(eval_condition(c, conditions, params) for c in node["Fn::Or"])
    raise ValueError(f"cannot evaluate condition {node!r}")


def default_bus(node, account, local_ok):
    """Whether an ARN (a Fn::Sub) is the default bus of the account `account` (a Sub variable),
    in a region whose variable is AWS::Region, or a local variable accepted by local_ok."""
    sub = node.get("Fn::Sub") if isinstance(node, dict) else None
    if sub is None:
        return False
    text, variables = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
    m = re.fullmatch(r"arn:\$\{AWS::Partition\}:events:\$\{([\w:]+)\}:\$\{([\w:]+)\}:event-bus/default", text)
    if not m or m.group(2) != account:
        return False
    region = m.group(1)
    if region in variables:
        return local_ok(variables[region])
    return region == "AWS::Region"


def check_members(template, resources, functions, binaries, member_path):
    where = member_path.name
    member, matches = decode(str(member_path))
    if matches:
        for m in matches:
            problem(f"{where} does not parse: {m}")
        return
    m_resources = member.get("Resources", {})
    attach_role_policies(m_resources)
    m_params = member.get("Parameters", {})

    # The scorer's rule(s) on the default bus of this stack's account.
    scorer = next((name for name, b in binaries.items() if b == "scorer"), None)
    patterns = []
    for ev_name, ev in (functions.get(scorer, {}).get("Properties", {}).get("Events", {}) if scorer else {}).items():
        if ev["Type"] != "EventBridgeRule":
            continue
        bus = ev.get("Properties", {}).get("EventBusName", "default")
        if bus != "default":
            problem(f"{scorer}.{ev_name}: on bus {bus!r}, not the default bus the member accounts forward to")
            continue
        patterns.append(canonical(ev["Properties"].get("Pattern")))
    if not patterns:
        problem("8: the scorer has no EventBridge rule on the default bus for forwarded Config events")

    # The member's rule(s): same pattern, on its default bus, to the central default bus.
    if "CentralAccountId" not in m_params:
        problem(f"{where}: no CentralAccountId parameter")
    region_ok = lambda v: refs(v) <= {"AWS::Region", "CentralRegion"} and bool(refs(v))
    rules = {k: v for k, v in m_resources.items() if v["Type"] == "AWS::Events::Rule"}
    if not rules:
        problem(f"{where}: no EventBridge rule forwards Config events")
    for name, rule in rules.items():
        props = rule["Properties"]
        bus = props.get("EventBusName", "default")
        if bus != "default":
            problem(f"{where} {name}: on bus {bus!r}; AWS Config sends its events to the default bus")
        if canonical(props.get("EventPattern")) not in patterns:
            problem(f"{where} {name}: event pattern {props.get('EventPattern')!r} is not the scorer's ConfigChange pattern in {TEMPLATE.name} ({patterns!r})")
        if props.get("State", "ENABLED") != "ENABLED":
            problem(f"{where} {name}: not enabled")
        targets = props.get("Targets", [])
        if not targets:
            problem(f"{where} {name}: no target")
        for target in targets:
            tid = f"{where} {name}.{target.get('Id')}"
            arn = target.get("Arn")
            if not default_bus(arn, "CentralAccountId", region_ok):
                problem(f"{tid}: target {arn!r} is not the default bus of CentralAccountId (arn:${{AWS::Partition}}:events:<region>:${{CentralAccountId}}:event-bus/default), where the scorer's rule is")
            if "Arn" not in target.get("DeadLetterConfig", {}):
                problem(f"{tid}: no dead-letter queue (events the central bus refuses would be lost)")
            role_att = target.get("RoleArn", {}).get("Fn::GetAtt") if isinstance(target.get("RoleArn"), dict) else None
            role_name = (role_att[0] if isinstance(role_att, list) else role_att.split(".")[0]) if role_att else None
            role = m_resources.get(role_name)
            if not role or role["Type"] != "AWS::IAM::Role":
                problem(f"{tid}: no RoleArn of a role of {where} (a cross-region or organization-granted bus target needs one)")
                continue
            trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
            if not any(as_list(st.get("Principal", {}).get("Service", [])) == ["events.amazonaws.com"] for st in trust):
                problem(f"{where} {role_name}: EventBridge (events.amazonaws.com) cannot assume it")
            statements = role_statements(role)
            if role["Properties"].get("ManagedPolicyArns"):
                problem(f"{where} {role_name}: managed policies grant more than PutEvents to the engine's bus")
            if not statements:
                problem(f"{where} {role_name}: allows nothing; it must allow events:PutEvents to the target bus")
            for st in statements:
                if st.get("Effect") != "Allow":
                    continue
                if as_list(st.get("Action")) != ["events:PutEvents"] or as_list(st.get("Resource")) != [arn]:
                    problem(f"{where} {role_name}: allows {st.get('Action')!r} on {st.get('Resource')!r}; only events:PutEvents on the target bus {arn!r}")

    # The member's roles: no wildcard action, "*" only under a comment (as check 3), and none
    # reads AWS Config: the engine reads the member accounts through its aggregator.
    raw = member_path.read_text().splitlines()
    for i, line in enumerate(raw):
        if re.match(r'\s*Resource:\s*"\*"', line) and not raw[i - 1].strip().startswith("#"):
            problem(f"{where}:{i + 1}: Resource \"*\" without a comment saying why")
    for name, role in m_resources.items():
        if role["Type"] != "AWS::IAM::Role":
            continue
        for a in allowed_actions(role):
            if "*" in a:
                problem(f"{where} {name}: wildcard action {a}")
            if a.startswith("config:"):
                problem(f"{where} {name}: allows {a}; the engine reads member accounts through its aggregator, not a role")
    # The aggregator's authorization: the engine's account, in the engine's region.
    auths = [(k, v) for k, v in m_resources.items() if v["Type"] == "AWS::Config::AggregationAuthorization"]
    if len(auths) != 1:
        problem(f"{where}: {len(auths)} aggregation authorizations, expected one (for the engine's aggregator)")
    for name, auth in auths:
        props = auth["Properties"]
        if props.get("AuthorizedAccountId") != {"Ref": "CentralAccountId"}:
            problem(f"{where} {name}: authorizes {props.get('AuthorizedAccountId')!r}, not CentralAccountId")
        if not region_ok(props.get("AuthorizedAwsRegion")):
            problem(f"{where} {name}: authorizes region {props.get('AuthorizedAwsRegion')!r}, not the engine's (CentralRegion, or this stack's)")
    if "ConfigAggregatorName" not in template.get("Parameters", {}):
        problem("8: no ConfigAggregatorName parameter: the member accounts' items cannot be read")

    # This stack's default-bus policy lets the member accounts in, for both OrganizationId cases.
    params = template.get("Parameters", {})
    if "OrganizationId" not in params:
        problem("8: no OrganizationId parameter")
        return
    conditions = template.get("Conditions", {})
    defaults = {k: v.get("Default", ("unset", k)) for k, v in params.items()}
    this_bus = lambda node: default_bus(node, "AWS::AccountId", lambda v: False)
    policies = {k: v for k, v in resources.items() if v["Type"] == "AWS::Events::EventBusPolicy"}
    for case, org in (("OrganizationId empty", ""), ("OrganizationId set", "o-exampleorg1")):
        values = dict(defaults, OrganizationId=org)
        covered = False
        for name, pol in policies.items():
            try:
                if "Condition" in pol and not eval_condition(conditions[pol["Condition"]], conditions, values):
                    continue
            except (KeyError, ValueError) as e:
                problem(f"{name}: condition {pol.get('Condition')!r} cannot be evaluated ({e})")
                continue
            props = pol["Properties"]
            st = props.get("Statement")
            if st is None:
                problem(f"{name}: no Statement (the Principal/Action/Condition form is not checked)")
                continue
            if props.get("EventBusName", "default") != "default" or not this_bus(st.get("Resource")):
                problem(f"{name}: not a policy of this account's default bus ({props.get('EventBusName')!r}, {st.get('Resource')!r})")
                continue
            if st.get("Effect") != "Allow" or "events:PutEvents" not in as_list(st.get("Action")):
                continue
            principal = st.get("Principal")
            org_cond = st.get("Condition", {}).get("StringEquals", {}).get("aws:PrincipalOrgID")
            if principal == "*" or (isinstance(principal, dict) and "*" in as_list(principal.get("AWS"))):
                if org_cond != {"Ref": "OrganizationId"}:
                    problem(f"{name} ({case}): lets any principal put events, without aws:PrincipalOrgID = OrganizationId")
                elif org:
                    covered = True
            elif not org and isinstance(principal, dict) and principal.get("AWS") == {"Fn::Split": [",", {"Ref": "AllowedAccounts"}]}:
                covered = True
        if not covered:
            who = "the accounts of AllowedAccounts (Principal AWS: !Split AllowedAccounts)" if not org else "the organization's principals (aws:PrincipalOrgID = OrganizationId)"
            problem(f"8 ({case}): no default-bus policy of {TEMPLATE.name} lets {who} put events: member accounts' forwarded events are refused")


def main():
    template, matches = decode(str(TEMPLATE))
    if matches:
        for m in matches:
            problem(f"template does not parse: {m}")
        return
    resources = template["Resources"]
    attach_role_policies(resources)
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
        for st in role_statements(role):
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
    for crate in sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "src").is_dir()):
        src = crate_code(crate)
        dims = set(re.findall(r'\.dimension\(\s*"(\w+)"', src))
        # The values a dimension is written with, when the code names them (`None`: computed).
        values = {}
        for dim, rest in re.findall(r'\.dimension\(\s*"(\w+)",\s*([^)]*)\)', src):
            literal = re.fullmatch(r'"([^"]*)"', rest.strip())
            if literal and values.get(dim, set()) is not None:
                values.setdefault(dim, set()).add(literal.group(1))
            else:
                values[dim] = None
        for metric in re.findall(r'\.count\(\s*"(\w+)"', src):
            written.setdefault(metric, []).append((dims, values))
    for name, r in resources.items():
        if r["Type"] != "AWS::CloudWatch::Alarm" or r["Properties"].get("Namespace") != "JusticeEngine":
            continue
        props = r["Properties"]
        metric = props.get("MetricName")
        alarm_dims = {d["Name"] for d in props.get("Dimensions", [])}
        if metric not in written:
            problem(f"{name}: no function writes the metric {metric!r}")
            continue
        writers = [(d, v) for d, v in written[metric] if alarm_dims and alarm_dims <= d]
        if not writers:
            names = sorted(set().union(*(d for d, _ in written[metric])))
            problem(f"{name}: {metric} is written with dimensions {names}, the alarm names {sorted(alarm_dims)}")
            continue
        # A literal value must be one a function writes (a typo watches a metric nobody writes).
        for d in props.get("Dimensions", []):
            value = d.get("Value")
            if not isinstance(value, str):
                continue
            if not any(v.get(d["Name"]) is None or value in v[d["Name"]] for _, v in writers):
                problem(f"{name}: no function writes {metric} with {d['Name']} = {value!r}")

    # 6. Every operation a function calls is allowed by its role (before 5, which returns when
    # the operations page is missing).
    check_permissions(resources, functions, binaries)

    # 7. The topics a function publishes to are the ones its role allows, and only those.
    check_topics(resources, functions)

    # 8. The member template agrees with this one, and the default bus lets its events in.
    check_members(template, resources, functions, binaries, MEMBER)

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
            problem(f"metric {metric} (counted in functions/*/src) has no row in docs/operations.md's metrics table")


if __name__ == "__main__":
    if len(sys.argv) > 3:
        sys.exit(f"usage: {sys.argv[0]} [TEMPLATE [MEMBER]]")
    if len(sys.argv) >= 2:
        TEMPLATE = Path(sys.argv[1]).resolve()
    if len(sys.argv) == 3:
        MEMBER = Path(sys.argv[2]).resolve()
    main()
    for p in problems:
        print(p)
    print(f"template wiring: {len(problems)} problem(s)")
    sys.exit(1 if problems else 0)

"""Reads Krampus tasks files the way Krampus's lib/krampus_tasks.py reads them, and reports
every task Krampus would reject, misread, crash on, or carry out differently than written.

Written from Krampus's documented format and its source (lib/krampus_tasks.py, kinder/*.py):
- required keys: action, action_time, aws_resource_name, aws_region, aws_object_type;
- the ARN is parsed with `arnparse`; Krampus dispatches on its service (SERVICES below) and, for
  ec2, on its resource type; it assumes its role in the ARN's account, so the ARN must carry one;
- `action_time >= time.time()` defers the task: a string there compares as always-greater in
  Python 2, so the task would never run; it must be an integer;
- security-group disable reads cidr_range, from_port, to_port, proto (IPv4 only);
- S3 is disable only; with s3_principal and s3_permission one grant is removed;
- kill on RDS is refused; disable on an EBS volume or a Lambda function deletes it (the judge
  writes those as kill, saying what will happen).

Usage: contract.py TASKS_FILE...   exit status 1 when any task fails.
"""

import ipaddress
import json
import re
import sys

from arnparse import arnparse

REQUIRED = ["action", "action_time", "aws_resource_name", "aws_region", "aws_object_type"]
SERVICES = ["ec2", "s3", "iam", "rds", "lambda"]
EC2_TYPES = ["instance", "security-group", "volume"]
IAM_TYPES = ["user", "role", "group"]
S3_PERMISSIONS = ["READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL"]


def problems(task):
    out = []
    for k in REQUIRED:
        if k not in task:
            out.append("missing required key %r" % k)
    if out:
        return out
    if type(task["action_time"]) is not int:
        out.append("action_time %r is not an integer" % (task["action_time"],))
    action = task["action"]
    if action not in ("kill", "disable"):
        out.append("action %r is neither kill nor disable" % (action,))
    try:
        arn = arnparse(task["aws_resource_name"])
    except Exception as e:  # arnparse raises on anything that is not an ARN
        return out + ["aws_resource_name does not parse: %s" % e]
    if arn.service not in SERVICES:
        out.append("service %r is not one Krampus dispatches on" % arn.service)
    if not (arn.account_id and re.fullmatch(r"\d{12}", arn.account_id)):
        out.append("ARN has no 12-digit account for Krampus to assume its role in")
    if task["aws_object_type"] != arn.service:
        out.append("aws_object_type %r is not the ARN's service %r" % (task["aws_object_type"], arn.service))
    if arn.service not in ("iam",) and arn.region != task["aws_region"]:
        out.append("ARN region %r differs from aws_region %r" % (arn.region, task["aws_region"]))
    if arn.service == "ec2":
        if arn.resource_type not in EC2_TYPES:
            out.append("Krampus does nothing for ec2 resource type %r" % arn.resource_type)
        if arn.resource_type in ("volume",) and action != "kill":
            out.append("disable deletes an EBS volume: the task must say kill")
        if arn.resource_type == "security-group" and action == "disable":
            for k in ("cidr_range", "from_port", "to_port", "proto"):
                if k not in task:
                    out.append("security-group disable lacks %r" % k)
            if "cidr_ip" in task:
                out.append("cidr_ip is ignored by Krampus (it reads cidr_range)")
            try:
                if ipaddress.ip_network(task.get("cidr_range", ""), strict=False).version != 4:
                    out.append("Krampus revokes IPv4 rules only")
            except ValueError:
                out.append("cidr_range %r is not a CIDR" % task.get("cidr_range"))
            for k in ("from_port", "to_port"):
                if k in task and type(task[k]) is not int:
                    out.append("%s is not an integer" % k)
            ports = (task.get("from_port"), task.get("to_port"))
            if task.get("proto") == "-1":
                if ports != (-1, -1):
                    out.append("an all-traffic rule is revoked with ports -1")
            elif task.get("proto") in ("tcp", "udp"):
                if not all(type(p) is int and 0 <= p <= 65535 for p in ports) or ports[0] > ports[1]:
                    out.append("ports %r are not a tcp/udp range" % (ports,))
            elif task.get("proto") != "icmp":
                out.append("proto %r is not tcp, udp, icmp or -1" % task.get("proto"))
            try:
                net = ipaddress.ip_network(task.get("cidr_range", ""), strict=True)
                if str(net) != task.get("cidr_range"):
                    out.append("cidr_range %r is not canonical" % task.get("cidr_range"))
            except ValueError:
                pass
    elif arn.service == "s3":
        if action != "disable":
            out.append("Krampus only disables S3 buckets")
        has_p, has_perm = "s3_principal" in task, "s3_permission" in task
        if has_p != has_perm:
            out.append("s3_principal and s3_permission go together")
        if not has_p:
            out.append("no grant named: Krampus would remove every grant of the bucket")
        elif not (isinstance(task["s3_permission"], list) and all(isinstance(p, str) for p in task["s3_permission"])):
            out.append("s3_permission is not a list of strings")
        else:
            # kinder/s3.py compares S3's names exactly ("READ"); Config spells them "Read".
            for p in task["s3_permission"]:
                if p not in S3_PERMISSIONS:
                    out.append("s3_permission %r is not one of S3's names %s" % (p, S3_PERMISSIONS))
        if arn.resource_type is not None or "/" in arn.resource:
            out.append("S3 ARN resource %r is not a bucket name" % arn.resource)
    elif arn.service == "rds":
        if action == "kill":
            out.append("Krampus refuses kill on RDS")
        if arn.resource_type != "db":
            out.append("RDS resource type %r is not db" % arn.resource_type)
    elif arn.service == "iam":
        if arn.resource_type not in IAM_TYPES:
            out.append("Krampus does nothing for IAM %r" % arn.resource_type)
        if "/" in arn.resource:
            out.append("IAM name %r has a path: Krampus would look up the wrong name" % arn.resource)
    elif arn.service == "lambda":
        if arn.resource_type != "function":
            out.append("Lambda resource type %r is not function" % arn.resource_type)
        if action != "kill":
            out.append("disable deletes a Lambda function: the task must say kill")
    return out


def main(paths):
    bad = 0
    seen = 0
    services = set()
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        if not isinstance(doc, dict) or not isinstance(doc.get("tasks"), list):
            print("%s: not {\"tasks\": [...]}" % path)
            bad += 1
            continue
        for i, task in enumerate(doc["tasks"]):
            seen += 1
            if not isinstance(task, dict):
                print("%s task %d: not an object" % (path, i))
                bad += 1
                continue
            for p in problems(task):
                print("%s task %d (%s): %s" % (path, i, task.get("aws_resource_name"), p))
                bad += 1
            try:
                services.add(arnparse(task["aws_resource_name"]).service)
            except Exception:
                pass
    print("checked %d task(s); services %s; %d problem(s)" % (seen, sorted(services), bad))
    return 1 if bad or seen == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""From a generated event stream (gen_events.py), two streams of N security-group items:
every item made one resource's (its successive configurations, a minute apart), and the same
items as they are (N distinct resources). Replaying both side by side shows whether an event's
cost depends on the length of its resource's history.

    python3 one_resource.py EVENTS.jsonl N OUT_ONE.jsonl OUT_DISTINCT.jsonl
"""
import datetime as dt
import json
import sys

src, n, one_path, distinct_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
base = dt.datetime(2025, 1, 6, 9, 0, 0, tzinfo=dt.timezone.utc)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


groups = []
with open(src) as f:
    for line in f:
        e = json.loads(line)
        ci = e["detail"]["configurationItem"]
        if ci["resourceType"] == "AWS::EC2::SecurityGroup" and isinstance(ci.get("configuration"), dict):
            groups.append(e)
        if len(groups) == n:
            break
if len(groups) < n:
    sys.exit("only %d security-group events in %s: generate more" % (len(groups), src))

first = groups[0]["detail"]["configurationItem"]
with open(one_path, "w") as one, open(distinct_path, "w") as distinct:
    for i, e in enumerate(groups):
        distinct.write(json.dumps(e) + "\n")
        ci = e["detail"]["configurationItem"]
        t = base + dt.timedelta(minutes=i)
        for k in ("awsAccountId", "awsRegion", "resourceId", "resourceName", "ARN"):
            ci[k] = first.get(k)
        ci["configuration"]["groupId"] = first["resourceId"]
        ci["configurationItemCaptureTime"] = iso(t)
        ci["configurationStateId"] = int(t.timestamp() * 1000)
        e["detail"]["notificationCreationTime"] = iso(t + dt.timedelta(seconds=1))
        e["account"], e["region"], e["resources"] = first["awsAccountId"], first["awsRegion"], [first["ARN"]]
        one.write(json.dumps(e) + "\n")

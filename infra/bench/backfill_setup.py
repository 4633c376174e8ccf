"""Fills moto with an organization for the back-fill benchmark: ACCOUNTS accounts of PER_ACCOUNT
S3 buckets each (one in twenty with a public bucket policy), and, in the first account (the
engine's), an AWS Config aggregator covering them all. Prints the engine account's credentials
as shell `export` lines.

    python backfill_setup.py ACCOUNTS PER_ACCOUNT AGGREGATOR
"""

import json
import sys
from concurrent.futures import ThreadPoolExecutor

import boto3


def session_in(account):
    # moto acts in the account of an assumed role's credentials, as AWS does.
    creds = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/justice-bench", RoleSessionName="bench"
    )["Credentials"]
    return creds, boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def fill(account, per_account):
    _, session = session_in(account)
    s3 = session.client("s3")
    for i in range(per_account):
        name = f"bf-{account}-{i}"
        s3.create_bucket(Bucket=name)
        if i % 20 == 0:
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{name}/*",
                    }
                ],
            }
            s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))


def main():
    n_accounts, per_account, aggregator = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    accounts = [f"5{i:011d}" for i in range(1, n_accounts + 1)]
    # moto serves one request at a time (infra/moto_server.py): threads only overlap the
    # clients' own work.
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda a: fill(a, per_account), accounts))
    creds, central = session_in(accounts[0])
    central.client("config").put_configuration_aggregator(
        ConfigurationAggregatorName=aggregator,
        AccountAggregationSources=[{"AccountIds": accounts, "AllAwsRegions": True}],
    )
    print(f"export ALLOWED_ACCOUNTS={','.join(accounts)}")
    print(f"export AWS_ACCESS_KEY_ID={creds['AccessKeyId']}")
    print(f"export AWS_SECRET_ACCESS_KEY={creds['SecretAccessKey']}")
    print(f"export AWS_SESSION_TOKEN={creds['SessionToken']}")


if __name__ == "__main__":
    main()

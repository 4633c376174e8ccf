# Sourced by the scorer's Lambda benchmarks: moto started (infra/moto.sh), and the scorer built
# for Lambda (PROFILE=release measures the default release build instead): `$bin`.
#
# moto runs without its per-transaction table backup (see infra/moto_server.py): the
# benchmarks write each resource from one writer, so no transaction fails, and with the backup
# N writes take O(N^2) time and gigabytes.
export JUSTICE_BENCH_NO_TXN_BACKUP=1
# shellcheck source=infra/moto.sh
source infra/moto.sh
profile=${PROFILE:-lambda}
cargo build --profile "$profile" --locked -p justice-scorer >/dev/null
bin=target/$profile/scorer

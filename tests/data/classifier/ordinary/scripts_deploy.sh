#!/usr/bin/env bash
# Deploys the reporting service to staging. Credentials come from the vault at run time.
set -euo pipefail

ENVIRONMENT="${1:-staging}"
IMAGE="registry.example.com/analytics/reporting"
VERSION="$(git describe --tags --always)"
KUBE_CONTEXT="analytics-${ENVIRONMENT}"

log() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

# Registry login with a short-lived token; the token is read from the vault and piped, so it
# never appears on a command line or in the shell history.
vault kv get -field=token "kv/ci/registry" | docker login registry.example.com -u ci-bot --password-stdin

log "building ${IMAGE}:${VERSION}"
docker build --pull -t "${IMAGE}:${VERSION}" .
docker push "${IMAGE}:${VERSION}"
DIGEST="$(docker inspect --format='{{index .RepoDigests 0}}' "${IMAGE}:${VERSION}")"
log "pushed ${DIGEST}"

# Database migrations run with a dynamic credential that expires after one hour.
DB_CREDS_JSON="$(vault read -format=json database/creds/reporting-migrate)"
export PGUSER="$(jq -r .data.username <<<"${DB_CREDS_JSON}")"
export PGPASSWORD="$(jq -r .data.password <<<"${DB_CREDS_JSON}")"
export PGHOST="db.${ENVIRONMENT}.internal"
export PGDATABASE="reporting"
./bin/migrate up
unset PGPASSWORD DB_CREDS_JSON

kubectl --context "${KUBE_CONTEXT}" -n analytics set image deployment/reporting "reporting=${DIGEST}"
kubectl --context "${KUBE_CONTEXT}" -n analytics rollout status deployment/reporting --timeout=5m

# Smoke test through the public endpoint with the CI service account.
TOKEN="$(vault kv get -field=token kv/ci/reporting-smoke)"
curl --fail --silent --show-error \
  -H "Authorization: Bearer ${TOKEN}" \
  "https://reports.${ENVIRONMENT}.example/api/v2/healthz" >/dev/null
log "deployed ${VERSION} to ${ENVIRONMENT}"

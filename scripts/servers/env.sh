#!/usr/bin/env bash
# Prints the `export` lines the integration tests read (test/support/servers.ts):
#   eval "$(bash scripts/servers/env.sh)"
# Kept apart from the start scripts so a shell can re-attach to servers that are
# already running without restarting them. Values match rgw.sh / registries.sh.
cat <<EOF2
export RELAY_TEST_S3_ENDPOINT=http://127.0.0.1:${RELAY_TEST_RGW_PORT:-7480}
export RELAY_TEST_S3_ACCESS_KEY=testaccess
export RELAY_TEST_S3_SECRET_KEY=testsecret
export RELAY_TEST_REG_BASIC=127.0.0.1:5001
export RELAY_TEST_REG_ANON=127.0.0.1:5002
export RELAY_TEST_REG_TOKEN=127.0.0.1:5003
export RELAY_TEST_REG_TOKEN_REALM=http://127.0.0.1:5004/token
export RELAY_TEST_REG_TOKEN_SERVICE=relay-test-registry
export RELAY_TEST_REG_USER=testuser
export RELAY_TEST_REG_PASS=testpass
export RELAY_TEST_REG_PULL_USER=pulluser
export RELAY_TEST_REG_PULL_PASS=pullpass
EOF2

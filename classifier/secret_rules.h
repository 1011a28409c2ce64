// The built-in secret detectors, as pattern rules scanned in one pass with every other rule.
//
// Every rule reports a category `secret.<kind>` at level restricted. The rules are our own
// compiled-in table; formats were learned from the providers' documentation and from the
// noseyparker rule set (Apache-2.0), which is only read by the evaluation (classifier/eval.h).
//
// | category                         | what (rule names)                                        |
// |----------------------------------|----------------------------------------------------------|
// | secret.private_key               | PEM blocks "-----BEGIN <type> PRIVATE KEY-----" (RSA, EC, |
// |                                  | DSA, OPENSSH, ENCRYPTED, PGP ... BLOCK, PKCS#8): the whole|
// |                                  | block through the END line, or through the base64 body   |
// |                                  | when the END line is missing; the body must hold a run of|
// |                                  | 32+ base64 characters with >= 4 bits/char of entropy.    |
// |                                  | Also base64-encoded PEM ("LS0tLS1CRUdJTi...", decoded    |
// |                                  | header checked), PuTTY .ppk files, age identities        |
// |                                  | (AGE-SECRET-KEY-1...), WireGuard PrivateKey/PresharedKey.|
// | secret.jwt                       | ey...ey...sig; the header must decode to a JSON object   |
// |                                  | with "alg".                                              |
// | secret.aws_access_key            | AKIA/ASIA/ABIA/ACCA/A3T? + 16 [A-Z0-9].                  |
// | secret.aws_secret_key            | 40 base64 chars after aws_secret_access_key / aws_secret |
// |                                  | / SecretAccessKey = or :, or within 60 bytes after an    |
// |                                  | access key id (then 3 character classes, entropy >= 4).  |
// | secret.aws_session_token, _mws_token, _appsync_key | documented shapes in context.  |
// | secret.gcp_api_key               | AIza + 35; service-account "private_key_id" (40 hex).    |
// | secret.google_oauth_secret/_token| GOCSPX-..., ya29...., 1//0... refresh tokens.            |
// | secret.azure_*                   | storage AccountKey/SharedAccessKey=..., SAS sig= after   |
// |                                  | sv=, App Configuration Secret=, Entra ID client secrets  |
// |                                  | (xxx8Q~...), DevOps PATs (...AZDO...., legacy 52 chars   |
// |                                  | after ado_pat / personal_access_token).                  |
// | secret.github_token              | ghp_/gho_/ghu_/ghs_/ghr_ (CRC-32 checksum checked:       |
// |                                  | confidence 0.99 when valid, 0.9 otherwise), github_pat_. |
// | secret.gitlab_token              | glpat-, gldt-, glrt-, glptt-, glsoat-, glcbt-, glft-,    |
// |                                  | glimt-, gloas-, glffct-, glagent-, GR1348941...          |
// | secret.slack_token / _webhook    | xox[abeoprs]-..., xoxe.xox?-..., xapp-..., hooks.slack.  |
// | secret.stripe_key                | sk_/rk_ live/test, whsec_.                               |
// | secret.openai_api_key            | sk-proj-/sk-svcacct-/sk-admin-, sk-...T3BlbkFJ..., sk- + |
// |                                  | 48 alphanumerics.                                        |
// | secret.anthropic_api_key         | sk-ant-api03-... (and admin/sid/oat).                    |
// | secret.huggingface_token         | hf_ / api_org_ + 34 letters.                             |
// | secret.npm_token, pypi_token, rubygems_api_key, nuget_api_key, cratesio_api_key,           |
// | dockerhub_token, artifactory_api_key, dependency_track_api_key: documented prefixes.       |
// | secret.twilio_key                | SK/AC + 32 hex.                                          |
// | secret.sendgrid_api_key          | SG.<22>.<43>.                                            |
// | others, one category per provider: square, groq, tavily, jina, firecrawl, mailchimp,       |
// | mailgun, postmark, telegram_bot, digitalocean, doppler, databricks, dynatrace,             |
// | hashicorp_vault (hvs./hvb./hvr., legacy s./b./r. after vault|token, unseal keys),          |
// | terraform, heroku, grafana, newrelic, jenkins, teamcity, sonarqube, codeclimate,           |
// | kubernetes_bootstrap, okta, atlassian, bitbucket, salesforce, sourcegraph, segment,        |
// | postman, shopify, stackhawk, dropbox, adafruit_io, adobe, figma, mapbox (sk./tk. only: pk.  |
// | tokens are public), facebook, linkedin, twitter, twitch, kagi, thingsboard, truenas,       |
// | blynk, msteams_webhook.                                                                    |
// | secret.password_hash             | bcrypt, md5crypt, sha256crypt, sha512crypt, Cisco $8$/$9$|
// |                                  | Kerberos AS-REP, argon2.                                 |
// | secret.http_basic_auth           | Authorization: Basic <base64 of user:password>.          |
// | secret.bearer_token              | Authorization: Bearer <token> (not a placeholder).       |
// | secret.password_in_url           | scheme://user:PASSWORD@host (postgres://, mongodb+srv://,|
// |                                  | https://, ...); the password part is the span.           |
// | secret.connection_string         | Password=/Pwd= in a ';'-separated connection string with |
// |                                  | another connection key (Server=, User ID=, ...) nearby.  |
// | secret.netrc_password            | machine X login Y password Z.                            |
// | secret.password                  | `key = value` where the key's words name a password      |
// |                                  | (password, passwd, pwd, pass, passphrase; DB_PASSWORD,   |
// |                                  | userPassword) and the value passes PasswordValueOk;      |
// |                                  | NetworkCredential(u, p), DirectoryEntry(path, u, p),     |
// |                                  | <add key="...Password" value="...">, psexec / Connect-   |
// |                                  | VIServer -p/-Password, curl -u user:password, prose "the |
// |                                  | password is 'x'".                                        |
// | secret.generic_secret            | `key = value` where the key names a secret, token, API / |
// |                                  | access / private key, auth or credentials and the value  |
// |                                  | passes TokenValueOk (16+ bytes, entropy, not sequential).|
// | secret.high_entropy_string       | any `KEY=value` line whose value is 32-128 base64/base62 |
// |                                  | bytes with upper, lower and digits and entropy >=        |
// |                                  | min(4.5, 0.85 log2(len)); keys naming ids, hashes,       |
// |                                  | digests, versions, nonces, salts are skipped.            |
//
// Keyword assignments cover `key = "value"`, `key: value`, JSON `"key": "value"`, `key => v`,
// `key := v`, shell `export KEY=v`, YAML `key: !!binary v`, and comparisons `key == "v"`. They
// reject placeholders (secrets::LooksPlaceholder: "<your-token>", "${VAR}", "xxxx", "changeme",
// "example", ...), template and variable syntax, code references (env.PASSWORD, getToken(),
// DB_PASSWORD), file paths and URLs, and keys that name something about a secret (token_url,
// password_label, api_key_id). See classifier/secret_checks.h for the exact checks.
//
// Provider rules match the documented format alone (a syntactically valid key is treated as a
// secret even when it is an example or revoked): a scanner cannot tell them apart.
#pragma once

#include <vector>

#include "classifier/pattern_set.h"

namespace airlock::classifier {

// Private keys, JWTs, cloud and SaaS credentials, passwords in URLs and connection strings,
// high-entropy strings next to secret keywords.
std::vector<PatternRule> SecretPatternRules();

}  // namespace airlock::classifier

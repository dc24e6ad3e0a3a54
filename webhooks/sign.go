// Package webhooks delivers an organization's events to the URLs it
// subscribed (API.md, Integrations): the subscriptions and their delivery
// log in PostgreSQL, the Standard Webhooks signature, an HTTP client that
// refuses private addresses at dial time, and the dispatcher, a Watermill
// consumer of the event log that is never part of a projection rebuild.
//
// Subscriptions are integration configuration, not domain state: they
// live in plain tables (migrations/00040_webhooks.sql), not in the event
// log, and their secrets never reach it.
package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// secretPrefix starts every signing secret, as Standard Webhooks writes
// them.
const secretPrefix = "whsec_"

// secretBytes is the length of a secret's random key.
const secretBytes = 32

// NewSecret returns a fresh signing secret: "whsec_" and the base64 of 32
// random bytes.
func NewSecret() string {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

// Signature is the webhook-signature header for a message id, a Unix
// timestamp and a body, signed with every secret given ("v1,<base64
// HMAC-SHA256 of id.timestamp.body>", space-separated: two during a
// rotation window).
func Signature(secrets []string, id string, timestamp int64, body []byte) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, secretPrefix))
		if err != nil {
			return "", fmt.Errorf("webhooks: a stored secret is not base64: %w", err)
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}

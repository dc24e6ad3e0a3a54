package app_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"example.com/crm/internal/apitest"
)

// The README's "First requests" walkthrough works: its sh block, run
// verbatim by bash (set -euo pipefail: any failing command fails the
// test) against a fresh server.
func TestREADMEFirstRequests(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the walkthrough needs %s: %v", tool, err)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := firstRequestsBlock(t, string(readme))

	s := apitest.Start(t, apitest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+block)
	cmd.Env = append(os.Environ(), "BASE="+s.URL)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the walkthrough failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{`"role": "owner"`, `"stage": "proposal"`, `"type":"stage_changed"`,
		`"type":"deal.stage_changed"`, `"as_of_version": 1`, `"by_status"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the walkthrough's output lacks %s:\n%s", want, out)
		}
	}
}

// firstRequestsBlock returns the first ```sh block of the README's
// "## First requests" section.
func firstRequestsBlock(t *testing.T, readme string) string {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n## First requests\n")
	if !ok {
		t.Fatal(`README.md has no "## First requests" section`)
	}
	if next := strings.Index(section, "\n## "); next >= 0 {
		section = section[:next]
	}
	_, rest, ok := strings.Cut(section, "\n```sh\n")
	if !ok {
		t.Fatal("the First requests section has no ```sh block")
	}
	block, _, ok := strings.Cut(rest, "\n```\n")
	if !ok {
		t.Fatal("the First requests block is not closed")
	}
	return block
}

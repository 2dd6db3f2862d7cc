package main

import (
	"context"
	"strings"
	"testing"
)

// TestRun runs the example and checks its transcript.
func TestRun(t *testing.T) {
	var b strings.Builder
	if err := run(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	want := `tools: check_approval_status get_secret list_secrets list_versions request_approval rotate_secret run_with_secrets set_secret
get_secret dev/openai/api-key: value "sk-dev-0000"
get_secret dev/db/password: withheld: The value is not revealed: this secret is critical and the operator reveals values up to standard; use run_with_secrets to pass it to an allowed command's environment.
run_with_secrets: exit 0, stdout "[REDACTED:DB_PASSWORD]\n"
run_with_secrets: refused: Refused to run that command: it matches no --allow-run pattern of the operator (see this tool's description); ask the operator to allow it.
`
	if got := b.String(); got != want {
		t.Errorf("transcript:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(b.String(), "hunter2") {
		t.Error("the critical value reached the transcript")
	}
}

package agentvault_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/filebackend"
	"github.com/agentvault/agentvault/backend/redisbackend"
	"github.com/agentvault/agentvault/kms/localkms"
)

// The child side of the kill -9 campaign (crash_campaign_test.go): a
// sequential mixed workload that writes one line to stdout (a pipe) before
// each operation ("begin", with the value it is about to write) and one
// after it returned ("ack", with what the vault acknowledged), so the parent
// knows, whenever it kills the child, what was acknowledged and which one
// operation was in flight.

const crashLinePrefix = "CRASHLINE "

// crashLine is one line of the child's report.
type crashLine struct {
	Kind     string   `json:"kind"` // "ready", "begin", "ack", "nop" (the operation did nothing: not found, exists, exhausted)
	Op       string   `json:"op,omitempty"`
	Path     string   `json:"path,omitempty"`
	Version  string   `json:"version,omitempty"` // ack: the version written or activated
	Value    string   `json:"value,omitempty"`   // begin/ack: the value written
	Accessor string   `json:"accessor,omitempty"`
	Pruned   []string `json:"pruned,omitempty"`
	Items    []string `json:"items,omitempty"` // import: path=version=value for each secret
}

// Paths of the campaign. crashPaths are created, updated, rotated, rolled
// back, pruned and deleted; the import paths only imported and pruned.
var (
	crashPaths      = []string{"c/s0", "c/s1", "c/s2", "c/s3"}
	crashImportNS   = "imp"
	crashImportVars = []string{"K1", "K2"}
	crashTokenPath  = "tok/x"
)

// crashKeyring holds two keys; each run makes one of them primary so that
// Rewrap has data keys to re-wrap.
func crashKeyring(t testing.TB, primary string) *localkms.Keyring {
	t.Helper()
	k, err := localkms.New("k1", []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	require.NoError(t, k.AddKey("k2", []byte("fedcba9876543210fedcba9876543210")))
	require.NoError(t, k.SetPrimary(primary))
	return k
}

var crashRetention = agentvault.WithRetention(agentvault.RetentionPolicy{MaxVersions: 4})

// openCrashBackend opens "file=DIR" or "redis=URL".
func openCrashBackend(spec string) (backend.Backend, error) {
	kind, where, _ := strings.Cut(spec, "=")
	if kind == "file" {
		return filebackend.Open(where)
	}
	return redisbackend.Open(where)
}

// exitWithParent ends a campaign child when its parent dies: the parent
// holds the write end of the child's stdin, which the kernel closes when
// the parent exits (a failed campaign leaves no writer running forever).
func exitWithParent() {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(4)
	}()
}

// TestHelperCrashWorkload is the child of the kill -9 campaign; it does
// nothing in a normal test run. It runs until killed (or until it has done
// AGENTVAULT_CRASH_OPS operations).
func TestHelperCrashWorkload(t *testing.T) {
	spec := os.Getenv("AGENTVAULT_CRASH_BACKEND")
	if spec == "" {
		return
	}
	run, _ := strconv.Atoi(os.Getenv("AGENTVAULT_CRASH_RUN"))
	maxOps, _ := strconv.Atoi(os.Getenv("AGENTVAULT_CRASH_OPS"))
	seed, _ := strconv.ParseUint(os.Getenv("AGENTVAULT_CRASH_SEED"), 10, 64)
	rng := rand.New(rand.NewPCG(seed, uint64(run)))
	raw := os.Getenv("AGENTVAULT_CRASH_TOKEN")

	exitWithParent()
	say := func(l crashLine) {
		b, _ := json.Marshal(l)
		// One write(2) per line, unbuffered: once it returns the line is in
		// the pipe and survives SIGKILL.
		_, err := os.Stdout.Write(append([]byte(crashLinePrefix), append(b, '\n')...))
		if err != nil {
			os.Exit(3)
		}
	}
	b, err := openCrashBackend(spec)
	require.NoError(t, err)
	primary := []string{"k1", "k2"}[run%2]
	v, err := agentvault.New(b, crashKeyring(t, primary), crashRetention, agentvault.WithActor("crash-child"))
	require.NoError(t, err)
	say(crashLine{Kind: "ready"})

	for i := 0; maxOps == 0 || i < maxOps; i++ {
		p := crashPaths[rng.IntN(len(crashPaths))]
		val := fmt.Sprintf("r%d-o%d-%x", run, i, rng.Uint32())
		sval := agentvault.StringValue(val)
		var ack crashLine
		var err error
		switch n := rng.IntN(100); {
		case n < 15:
			say(crashLine{Kind: "begin", Op: "create", Path: p, Value: val})
			var s *agentvault.Secret
			s, err = v.CreateSecret(ctx, agentvault.CreateSecretInput{Path: p, Value: sval, Tier: agentvault.TierStandard})
			if err == nil {
				ack = crashLine{Op: "create", Path: p, Version: s.Version, Value: val}
			}
		case n < 40:
			say(crashLine{Kind: "begin", Op: "update", Path: p, Value: val})
			var m *agentvault.SecretMetadata
			m, err = v.UpdateSecret(ctx, p, agentvault.UpdateSecretInput{Value: &sval})
			if err == nil {
				ack = crashLine{Op: "update", Path: p, Version: m.Version, Value: val}
			}
		case n < 50:
			say(crashLine{Kind: "begin", Op: "rotate", Path: p, Value: val})
			var r *agentvault.RotationResult
			r, err = v.RotateSecret(ctx, p, agentvault.RotateOptions{Value: &sval})
			if err == nil {
				ack = crashLine{Op: "rotate", Path: p, Version: r.Version, Value: val}
			}
		case n < 60:
			var vs []agentvault.VersionInfo
			if vs, err = v.ListVersions(ctx, p); err != nil {
				break
			}
			var live []string
			for _, vi := range vs {
				if !vi.Pruned {
					live = append(live, vi.Version)
				}
			}
			target := live[rng.IntN(len(live))]
			say(crashLine{Kind: "begin", Op: "rollback", Path: p, Version: target})
			var m *agentvault.SecretMetadata
			m, err = v.Rollback(ctx, p, target)
			if err == nil {
				ack = crashLine{Op: "rollback", Path: p, Version: m.Version}
			}
		case n < 66:
			say(crashLine{Kind: "begin", Op: "delete", Path: p})
			if err = v.DeleteSecret(ctx, p); err == nil {
				ack = crashLine{Op: "delete", Path: p}
			}
		case n < 76:
			say(crashLine{Kind: "begin", Op: "token_use", Path: crashTokenPath})
			var s *agentvault.Secret
			sess := v.Session(raw)
			if s, err = sess.GetSecret(ctx, crashTokenPath); err == nil {
				ack = crashLine{Op: "token_use", Path: crashTokenPath, Version: s.Version, Value: s.Value.Reveal()}
			}
		case n < 84:
			var env strings.Builder
			for _, k := range crashImportVars {
				fmt.Fprintf(&env, "%s=%s-%s\n", k, val, k)
			}
			say(crashLine{Kind: "begin", Op: "import", Path: crashImportNS, Value: val})
			var res *agentvault.ImportResult
			res, err = v.ImportEnv(ctx, strings.NewReader(env.String()), agentvault.ImportOptions{
				Namespace: crashImportNS, Overwrite: true, Tier: agentvault.TierStandard,
			})
			if err == nil {
				ack = crashLine{Op: "import", Path: crashImportNS, Value: val}
				for _, s := range res.Secrets {
					ack.Items = append(ack.Items, s.Path+"="+s.Version+"="+val+"-"+s.Variable)
				}
			}
		case n < 92:
			pp := p
			if rng.IntN(3) == 0 {
				pp = crashImportNS + "/" + crashImportVars[rng.IntN(len(crashImportVars))]
			}
			say(crashLine{Kind: "begin", Op: "prune", Path: pp})
			var r *agentvault.PruneResult
			if r, err = v.PruneVersions(ctx, pp); err == nil {
				ack = crashLine{Op: "prune", Path: pp, Pruned: r.Pruned}
			}
		default:
			say(crashLine{Kind: "begin", Op: "rewrap"})
			if _, err = v.Rewrap(ctx, agentvault.RewrapOptions{}); err == nil {
				ack = crashLine{Op: "rewrap"}
			}
		}
		switch {
		case err == nil:
			ack.Kind = "ack"
			say(ack)
		case errors.Is(err, agentvault.ErrNotFound), errors.Is(err, agentvault.ErrAlreadyExists),
			errors.Is(err, agentvault.ErrTokenExhausted):
			say(crashLine{Kind: "nop"})
		default:
			// Anything else (ErrIntegrity above all) is a finding: the
			// parent reports the child's exit status and this message.
			fmt.Fprintf(os.Stderr, "crash workload: run %d op %d: %v\n", run, i, err)
			os.Exit(2)
		}
	}
}

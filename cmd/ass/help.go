package main

import (
	"flag"
	"fmt"
	"strings"
)

var helpCommand = &command{
	name:         "help",
	withAgentKey: func([]string) bool { return true },
	withToken:    true,
	args:         "[COMMAND]",
	summary:      "show help for ass or for one command",
	maxArgs:      1,
	define: func(*flag.FlagSet) func(*cli, []string) error {
		return func(c *cli, args []string) error {
			if len(args) == 0 {
				_, err := fmt.Fprint(c.stdout, mainUsage())
				return err
			}
			cmd := lookupCommand(args[0])
			if cmd == nil {
				return usagef("unknown command %q", truncate(args[0], 32))
			}
			_, err := fmt.Fprint(c.stdout, commandUsage(cmd))
			return err
		}
	},
}

const globalHelp = `Global flags (before or after the command):
  --backend URL   where secrets are stored [env ASS_BACKEND]
                    file://DIR  a directory (default file://$ASS_HOME/store)
                    mem://      in memory, gone when the command ends (for trying things)
                    redis://[user:pass@]host:port/db   a Redis server (rediss:// for TLS)
                    redis+cluster://host:port?addr=host2:port&addr=host3:port
                    redis+sentinel://host:port?master=NAME
  --kms URL       the key that protects them [env ASS_KMS]
                    local://FILE  a local key file (default local://$ASS_HOME/key)
                    env://VAR     a key in an environment variable: the base64 of 32
                                  random bytes, e.g. from "head -c32 /dev/urandom | base64"
                    awskms://KEY-ID-OR-ARN?region=R   AWS KMS (default credentials)
                    gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K   GCP Cloud KMS
                    (the cloud KMS schemes need ass built with -tags cloudkms)
  --actor NAME    who acts: recorded as created_by and in the audit trail, and the
                  requester or approver of tokens [env ASS_ACTOR; default $USER,
                  else "cli"]
  --json          print JSON instead of text
  --token TOKEN   act through a scoped token (ast_tok_…) [env ASS_TOKEN, safer:
                  flags are visible in the process list]: the secret commands
                  then do only what the token allows, audited as the token;
                  every other command is refused (exit 6)
  --client-ip IP  the caller's IP, for a token's or agent's IP allowlist
  -h, --help      show help
`

const envHelp = `Environment:
  ASS_HOME      where "ass init" puts the vault (default ~/.agentvault)
  ASS_BACKEND   default for --backend
  ASS_KMS       default for --kms
  ASS_ACTOR     default for --actor
  ASS_TOKEN     a scoped token (ast_tok_…): get, set, create, update, delete,
                list, versions, rollback, rotate, expiring, import, export and
                run act through it, within its scopes, tier and uses; other
                commands are refused (exit 6). Set but empty: exit 2, nothing
                is read. Safer than --token (visible in the process list)
  ASS_AGENT_KEY an agent key: token request and redeem, and approvals
                cancel, act as that agent (see "ass help agents"); other
                commands are refused (exit 6). Set but empty: exit 2
`

const exitHelp = `Exit codes:
  0  success
  1  failure (one line on stderr, starting "ass: "; nothing is half-written)
  2  usage error: unknown command or flag, a single-valued flag given twice,
     wrong arguments, a bad path, version, flag value or input (a value,
     description or tag over its limit); nothing was done
  3  secret or version not found
  4  secret expired (kept and listed, but its value is not served)
  5  approval required or pending: the token request waits for approvers
     (ass approvals approve ID, then ass token redeem ID)
  6  access denied: a token or agent key that is unknown, expired, revoked,
     used up or disabled; a client IP, scope or tier that does not allow it;
     an approval you may not give (your own request, or twice); or a command
     that cannot run with a token or agent key (init, agents, audit …)
  7  damaged: stored records that fail their integrity check (altered or
     corrupted) were skipped, one warning line each on stderr, and the rest
     was done (list, export, expiring, audit, rewrap); ass run starts
     nothing; ass doctor found a problem. Run "ass doctor"
  ass run exits with its command's status instead (126: the command cannot
  be started, 127: not found, 128+N: killed by signal N)
`

func mainUsage() string {
	var b strings.Builder
	b.WriteString(`ass keeps secrets (API keys, tokens, credentials) in an encrypted agentvault vault.

Usage:
  ass COMMAND [ARGUMENTS] [FLAGS]
  ass version (or ass --version)

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-10s %s\n", c.name, c.summary)
	}
	b.WriteString("\n" + globalHelp + "\n" + envHelp + "\n" + exitHelp)
	b.WriteString(`
Flags may come before or after arguments; "--" ends the flags.
Paths look like production/openai/api-key: 1-32 segments of A-Z a-z 0-9 . _ -
joined by "/". Errors never show secret values.

Start with "ass init", then for example:
  printf %s "$OPENAI_API_KEY" | ass set production/openai/api-key --type api_key --tier standard
  ass get production/openai/api-key
Scoped tokens for agents (a critical secret needs two approvers):
  TOKEN=$(ass token request --scope 'secrets:read:production/openai/*' --ttl 1h)
  ASS_TOKEN=$TOKEN ass get production/openai/api-key
Moving from .env files:
  ass import .env --namespace production --tier-prefix DB_=critical
  ass run --namespace production -- ./server
Run "ass help COMMAND" for a command's flags.
`)
	return b.String()
}

func argsSynopsis(c *command) string {
	if c.args == "" {
		return "no arguments"
	}
	return c.args
}

func commandUsage(c *command) string {
	var b strings.Builder
	switch {
	case c.passThrough:
		fmt.Fprintf(&b, "Usage: ass %s [FLAGS] %s\n\n", c.name, c.args)
	case c.args != "":
		fmt.Fprintf(&b, "Usage: ass %s %s [FLAGS]\n\n", c.name, c.args)
	default:
		fmt.Fprintf(&b, "Usage: ass %s [FLAGS]\n\n", c.name)
	}
	b.WriteString(strings.ToUpper(c.summary[:1]) + c.summary[1:] + ".\n")
	if c.details != "" {
		b.WriteString("\n" + c.details + "\n")
	}
	fs := newFlagSet(c.name)
	c.define(fs)
	var lines [][2]string
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		left := "--" + f.Name
		if name != "" {
			left += " " + name
		}
		lines = append(lines, [2]string{left, usage})
	})
	if len(lines) > 0 {
		width := 0
		for _, l := range lines {
			width = max(width, len(l[0]))
		}
		b.WriteString("\nFlags:\n")
		for _, l := range lines {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, l[0], l[1])
		}
	}
	b.WriteString("\nGlobal flags (--backend, --kms, --actor, --json, --token, --client-ip),\nenvironment and exit codes: see \"ass help\".\n")
	return b.String()
}

// shortUsage is what a bare "ass" prints: the commands and where to look next.
func shortUsage() string {
	var b strings.Builder
	b.WriteString("Usage: ass COMMAND [ARGUMENTS] [FLAGS]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-10s %s\n", c.name, c.summary)
	}
	b.WriteString(`
Run "ass help" for the global flags, environment and exit codes, and
"ass help COMMAND" for a command's flags. Start with "ass init".
`)
	return b.String()
}

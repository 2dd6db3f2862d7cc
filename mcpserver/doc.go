// Package mcpserver serves an agentvault vault to AI agents over the Model
// Context Protocol, on the official Go SDK
// (github.com/modelcontextprotocol/go-sdk). It is a separate module so the
// agentvault library itself has no MCP dependencies.
//
// Call New with the vault, the principal the server acts as and Options;
// it returns the SDK's *mcp.Server, which a Go agent framework mounts on
// any transport in-process (mcp.NewInMemoryTransports), on stdio
// (mcp.StdioTransport, as `ass mcp` does) or over HTTP (HTTPHandler):
//
//	srv, err := mcpserver.New(vault, mcpserver.Token(os.Getenv("ASS_TOKEN")), &mcpserver.Options{
//		Reveal:   "standard",
//		AllowRun: []string{"psql *"},
//	})
//	...
//	err = srv.Run(ctx, &mcp.StdioTransport{})
//
// # Tools
//
// get_secret {path, version?}, list_secrets {prefix?, type?, tier?, tags?},
// list_versions {path}, set_secret {path, value, type?, tier?, tags?,
// description?}, rotate_secret {path, value, grace_seconds?},
// request_approval {scopes, ttl?, max_uses?, reason},
// check_approval_status {id}, and run_with_secrets {argv, env,
// timeout_seconds?} when Options.AllowRun is set. Each has an input schema,
// a description and annotations (read-only, destructive, idempotent,
// open-world).
//
// Every tool call acts through one principal: a token's agentvault.Session
// (Token), which checks scopes, tier, expiry, IP allowlist and max uses on
// every call, or — for a local operator, explicitly — the whole vault
// (WholeVault). Every call is audited by the vault with the token's
// accessor and Via "mcp". get_secret first reads the secret's metadata
// (audited as secret.listed, not counted as a use) and reads the value
// (secret.read, one use) only when it may be revealed; set_secret likewise
// checks whether the secret exists before creating or updating it.
//
// request_approval asks for a token as the agent of Options.AgentKey (its
// scope ceiling bounds the request) or, with WholeVault, as the operator;
// with a token alone it is refused, since a token must not mint wider
// tokens. A token issued at once, or redeemed by check_approval_status
// once a human approved it, replaces the server's principal for every
// later call; its value never enters a result.
//
// # Threat model
//
// A value that enters a model's context is seen, and often logged, by
// whoever hosts the model. So get_secret returns values only for tiers up
// to Options.Reveal (default standard; "none" reveals nothing); above it,
// it returns metadata and points to run_with_secrets. run_with_secrets runs
// a command the operator allowed (each Options.AllowRun pattern is matched
// against the argv joined by single spaces, '*' matching any run), with no
// shell, a timeout (killing its process group) and an output cap, the
// secrets in its environment only (plus Options.RunEnv, never ASS_*
// variables; loader and shell variables such as PATH, LD_PRELOAD or
// BASH_ENV cannot be set from secrets), and returns its output with each
// value, and its base64, base64url, hex and URL-encoded forms, replaced by
// [REDACTED:NAME]. An allowed command can still leak a value deliberately —
// printing it reversed, split, otherwise encoded, or sending it over the
// network: the allowlist is the control, masking is a second line.
//
// Refusals (scope, tier, approval, expiry, not found, max uses, invalid
// input) are tool results with isError and one sentence naming the next
// step; never a protocol error, never a value. A value passed where a path
// belongs is not echoed. The optional Logger records tool names and
// outcomes only.
//
// HTTPHandler serves streamable HTTP to loopback clients presenting the
// bearer (ass uses the token itself); the SDK's DNS-rebinding protection
// stays on. Anyone who can run code as the same user can read the token
// from the server's environment: the server is a convenience for a local
// agent, not a boundary against the local user.
//
// # Concurrency
//
// The *mcp.Server New returns is safe for concurrent use by any number of
// sessions; they share one principal, so a token switched to by one session
// applies to all.
package mcpserver

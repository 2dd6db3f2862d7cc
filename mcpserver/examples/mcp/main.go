// Command mcp embeds the agentvault MCP server in-process and drives it
// with the official Go SDK's client, as a Go agent framework would: it
// lists the tools, reads a standard secret (revealed), a critical one
// (withheld: only metadata reaches the model) and hands the critical one to
// an allowed command with run_with_secrets (its output comes back masked).
//
//	cd mcpserver && go run ./examples/mcp
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms/localkms"
	"github.com/agentvault/agentvault/mcpserver"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, w io.Writer) error {
	// A vault in memory with two secrets. A real program opens its own
	// backend and key (see examples/quickstart).
	key, err := localkms.New("example", []byte("an-example-key-of-32-bytes-long!"))
	if err != nil {
		return err
	}
	vault, err := agentvault.New(membackend.New(), key)
	if err != nil {
		return err
	}
	defer vault.Close()
	for _, s := range []struct {
		path, value string
		tier        agentvault.AccessTier
	}{
		{"dev/openai/api-key", "sk-dev-0000", agentvault.TierStandard},
		{"dev/db/password", "hunter2-critical", agentvault.TierCritical},
	} {
		in := agentvault.CreateSecretInput{Path: s.path, Value: agentvault.StringValue(s.value), Tier: s.tier}
		if _, err := vault.CreateSecret(ctx, in); err != nil {
			return err
		}
	}

	// The server acts as the local operator here; an agent would get
	// mcpserver.Token(its scoped token) instead.
	srv, err := mcpserver.New(vault, mcpserver.WholeVault(), &mcpserver.Options{
		Reveal:   "standard",                       // critical values never enter the model's context
		AllowRun: []string{"printenv DB_PASSWORD"}, // the one command run_with_secrets may run
		RunEnv:   []string{"PATH=" + os.Getenv("PATH")},
	})
	if err != nil {
		return err
	}
	serverT, clientT := mcp.NewInMemoryTransports()
	if _, err := srv.Connect(ctx, serverT, nil); err != nil {
		return err
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "example-agent", Version: "v1"}, nil)
	cs, err := client.Connect(ctx, clientT, nil)
	if err != nil {
		return err
	}
	defer cs.Close()

	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		return err
	}
	var names []string
	for _, t := range tools.Tools {
		names = append(names, t.Name)
	}
	fmt.Fprintln(w, "tools:", strings.Join(names, " "))

	for _, c := range []struct {
		tool string
		args map[string]any
	}{
		{"get_secret", map[string]any{"path": "dev/openai/api-key"}},
		{"get_secret", map[string]any{"path": "dev/db/password"}},
		{"run_with_secrets", map[string]any{"argv": []string{"printenv", "DB_PASSWORD"}, "env": map[string]string{"DB_PASSWORD": "dev/db/password"}}},
		{"run_with_secrets", map[string]any{"argv": []string{"printenv", "HOME"}, "env": map[string]string{}}},
	} {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
		if err != nil {
			return err
		}
		if res.IsError {
			fmt.Fprintf(w, "%s: refused: %s\n", c.tool, res.Content[0].(*mcp.TextContent).Text)
			continue
		}
		var out map[string]any
		j, _ := json.Marshal(res.StructuredContent)
		_ = json.Unmarshal(j, &out)
		switch c.tool {
		case "get_secret":
			if out["revealed"] == true {
				fmt.Fprintf(w, "get_secret %s: value %q\n", c.args["path"], out["value"])
			} else {
				fmt.Fprintf(w, "get_secret %s: withheld: %s\n", c.args["path"], out["message"])
			}
		case "run_with_secrets":
			fmt.Fprintf(w, "run_with_secrets: exit %v, stdout %q\n", out["exit_code"], out["stdout"])
		}
	}
	return nil
}

package mcpserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms/localkms"
	"github.com/agentvault/agentvault/mcpserver"
)

// Example embeds the server in-process and drives it with the SDK's
// client over the in-memory transport: the standard secret's value is
// returned, the critical one's is withheld.
func Example() {
	ctx := context.Background()
	key, _ := localkms.New("example", []byte("an-example-key-of-32-bytes-long!"))
	vault, err := agentvault.New(membackend.New(), key)
	if err != nil {
		log.Fatal(err)
	}
	defer vault.Close()
	for path, tier := range map[string]agentvault.AccessTier{"dev/api-key": agentvault.TierStandard, "dev/signing-key": agentvault.TierCritical} {
		if _, err := vault.CreateSecret(ctx, agentvault.CreateSecretInput{Path: path, Value: agentvault.StringValue("value-of-" + path), Tier: tier}); err != nil {
			log.Fatal(err)
		}
	}
	tok, err := vault.RequestToken(ctx, agentvault.TokenRequest{Scopes: []string{"secrets:read:dev/api-key"}})
	if err != nil {
		log.Fatal(err)
	}

	srv, err := mcpserver.New(vault, mcpserver.Token(tok.Value.Reveal()), &mcpserver.Options{Reveal: "standard"})
	if err != nil {
		log.Fatal(err)
	}
	serverT, clientT := mcp.NewInMemoryTransports()
	if _, err := srv.Connect(ctx, serverT, nil); err != nil {
		log.Fatal(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "example-agent", Version: "v1"}, nil)
	cs, err := client.Connect(ctx, clientT, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cs.Close()

	for _, path := range []string{"dev/api-key", "dev/signing-key"} {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_secret", Arguments: map[string]any{"path": path}})
		if err != nil {
			log.Fatal(err)
		}
		if res.IsError {
			fmt.Println("refused:", res.Content[0].(*mcp.TextContent).Text)
			continue
		}
		var out mcpserver.GetSecretOutput
		j, _ := json.Marshal(res.StructuredContent)
		_ = json.Unmarshal(j, &out)
		fmt.Printf("%s revealed=%v value=%q\n", out.Secret.Path, out.Revealed, out.Value)
	}
	// Output:
	// dev/api-key revealed=true value="value-of-dev/api-key"
	// refused: Refused to read dev/signing-key: no scope of this token allows it; call request_approval with a scope that covers it.
}

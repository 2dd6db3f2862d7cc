package agentvault_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/kms/localkms"
)

// An approver registered with an SSH key approves a request by signing
// its statement; here with a key in memory, in practice with ssh-keygen
// -Y sign -n agentvault-approval or ssh-agent.
func ExampleAgentVault_ApproveSigned() {
	ctx := context.Background()
	keys, _ := localkms.New("example", []byte("an-example-key-of-32-bytes-long!"))
	vault, _ := agentvault.New(membackend.New(), keys)
	defer vault.Close()
	_, _ = vault.CreateSecret(ctx, agentvault.CreateSecretInput{Path: "prod/db", Value: agentvault.StringValue("pw"), Tier: agentvault.TierSensitive})

	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	alice, _ := ssh.NewSignerFromKey(priv)
	_, err := vault.AddApprover(ctx, agentvault.ApproverInput{Name: "alice", Keys: []string{string(ssh.MarshalAuthorizedKey(alice.PublicKey()))}})
	if err != nil {
		panic(err)
	}

	bob := agentvault.ContextWithActor(ctx, "bob")
	_, err = vault.RequestToken(bob, agentvault.TokenRequest{Scopes: []string{"secrets:read:prod/*"}})
	var need *agentvault.ApprovalRequiredError
	if !errors.As(err, &need) {
		panic(err)
	}
	_, err = vault.Approve(agentvault.ContextWithActor(ctx, "alice"), need.ApprovalID)
	fmt.Println(errors.Is(err, agentvault.ErrSignatureRequired))

	statement, _ := vault.ApprovalStatement(ctx, need.ApprovalID, agentvault.DecisionApprove)
	sig, _ := agentvault.SignStatement(statement, alice)
	a, err := vault.ApproveSigned(ctx, need.ApprovalID, sig)
	if err != nil {
		panic(err)
	}
	fmt.Println(a.State, a.Votes[0].Approver.ID, a.Votes[0].Trust)
	tok, err := vault.RedeemApproval(bob, need.ApprovalID)
	fmt.Println(tok != nil, err)
	// Output:
	// true
	// approved alice signed
	// true <nil>
}

//go:build !awskms && !cloudkms

package main

import (
	"errors"

	"github.com/agentvault/agentvault/kms"
)

// The AWS SDK is linked only into builds with the tag awskms or cloudkms:
// it adds megabytes and package initialisation to every run of ass, which
// most users (local:// and env:// keys) never need.
const awsKMSLinked = false

var errNoAWSKMS = errors.New("built without AWS KMS support: rebuild with -tags awskms (or -tags cloudkms for AWS and GCP)")

func openAWSKMS(*opener, target) (kms.KeyProvider, error) { return nil, errNoAWSKMS }

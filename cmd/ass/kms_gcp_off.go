//go:build !gcpkms && !cloudkms

package main

import (
	"errors"

	"github.com/agentvault/agentvault/kms"
)

// The Google Cloud SDK (with gRPC and protobuf) is linked only into builds
// with the tag gcpkms or cloudkms; see kms_aws_off.go.
const gcpKMSLinked = false

var errNoGCPKMS = errors.New("built without GCP Cloud KMS support: rebuild with -tags gcpkms (or -tags cloudkms for AWS and GCP)")

func openGCPKMS(*opener, target) (kms.KeyProvider, error) { return nil, errNoGCPKMS }

// Package fakekms is an in-process Cloud KMS server for tests: it implements
// the Encrypt and Decrypt RPCs of kmspb.KeyManagementServiceServer over real
// gRPC on a loopback port, with real AES-256-GCM, so that the gcpkms client
// code runs unchanged against it.
//
// It follows the documented behaviour of Cloud KMS for symmetric keys:
//
//   - A CryptoKey has versions; Encrypt uses the primary version (or the
//     version named in the request) and returns its name; a ciphertext
//     names its version, and Decrypt (given the CryptoKey name) opens it with
//     that version, which must belong to the named key.
//   - additional_authenticated_data is bound to the ciphertext; empty and
//     absent are the same.
//   - Request checksums (plaintext_crc32c, additional_authenticated_data_crc32c,
//     ciphertext_crc32c) are verified when present, a mismatch is
//     INVALID_ARGUMENT; Encrypt responses carry ciphertext_crc32c and the
//     verified_* flags (true exactly when the request carried the checksum),
//     Decrypt responses carry plaintext_crc32c.
//   - Errors: NOT_FOUND for an unknown key, FAILED_PRECONDITION for a
//     disabled or destroyed version, INVALID_ARGUMENT for a ciphertext that
//     does not open (wrong key, wrong aad, tampering) and for bad requests.
//
// Switches make it misbehave: SetFault corrupts responses the way a broken
// network or proxy could, FailNext answers with a given status code.
package fakekms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net"
	"regexp"
	"strconv"
	"sync"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Limits of Cloud KMS for software keys.
const (
	maxPlaintext = 64 << 10
	maxAAD       = 64 << 10
)

// Fault is a way to corrupt a response.
type Fault int

// Faults. Each applies to the responses of one RPC and leaves the other RPC
// alone.
const (
	NoFault Fault = iota

	CiphertextCRCWrong    // Encrypt: ciphertext_crc32c off by one
	CiphertextCRCMissing  // Encrypt: no ciphertext_crc32c
	PlaintextNotVerified  // Encrypt: verified_plaintext_crc32c false
	AADNotVerified        // Encrypt: verified_additional_authenticated_data_crc32c false
	CiphertextByteFlipped // Encrypt: a ciphertext byte flipped after its checksum was computed
	OtherKeyVersionName   // Encrypt: name of a version of another key
	CiphertextEmpty       // Encrypt: no ciphertext, checksum of the empty string
	PlaintextCRCWrong     // Decrypt: plaintext_crc32c off by one
	PlaintextCRCMissing   // Decrypt: no plaintext_crc32c
	PlaintextByteFlipped  // Decrypt: a plaintext byte flipped after its checksum was computed
	PlaintextEmptyWithCRC // Decrypt: empty plaintext with its (valid) checksum

	firstDecryptFault = PlaintextCRCWrong
)

const (
	versionNameForeignKey   = "projects/other/locations/global/keyRings/other/cryptoKeys/other/cryptoKeyVersions/1"
	decryptFailedMessage    = "Decryption failed: verify that 'name' refers to the correct CryptoKey."
	checksumMismatchMessage = "The checksum in field %s did not match the data in field %s."
)

// String names the fault, for test names.
func (f Fault) String() string {
	names := [...]string{"NoFault", "CiphertextCRCWrong", "CiphertextCRCMissing", "PlaintextNotVerified",
		"AADNotVerified", "CiphertextByteFlipped", "OtherKeyVersionName", "CiphertextEmpty",
		"PlaintextCRCWrong", "PlaintextCRCMissing", "PlaintextByteFlipped", "PlaintextEmptyWithCRC"}
	if f >= 0 && int(f) < len(names) {
		return names[f]
	}
	return "Fault(" + strconv.Itoa(int(f)) + ")"
}

// EncryptFaults and DecryptFaults list the faults of each RPC.
var (
	EncryptFaults = []Fault{CiphertextCRCWrong, CiphertextCRCMissing, PlaintextNotVerified, AADNotVerified, CiphertextByteFlipped, OtherKeyVersionName, CiphertextEmpty}
	DecryptFaults = []Fault{PlaintextCRCWrong, PlaintextCRCMissing, PlaintextByteFlipped, PlaintextEmptyWithCRC}
)

var (
	keyNameRE     = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$`)
	versionNameRE = regexp.MustCompile(`^(projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+)/cryptoKeyVersions/([1-9][0-9]*)$`)
	crcTable      = crc32.MakeTable(crc32.Castagnoli)
)

func crc(b []byte) int64 { return int64(crc32.Checksum(b, crcTable)) }

// versionState is the state of a key version.
type versionState int

const (
	enabled versionState = iota
	disabled
	destroyed
)

type version struct {
	aead  cipher.AEAD
	state versionState
}

type cryptoKey struct {
	versions []*version // version n is versions[n-1]
	primary  int        // 1-based
}

// Server is a fake Cloud KMS. Its methods are safe for concurrent use.
type Server struct {
	kmspb.UnimplementedKeyManagementServiceServer

	addr string
	gs   *grpc.Server

	mu         sync.Mutex
	keys       map[string]*cryptoKey
	fault      Fault
	faultLeft  int // responses left to corrupt; <0: all
	failCode   codes.Code
	failLeft   int // calls left to fail; <0: all
	encrypts   int
	decrypts   int
	lastEncReq *kmspb.EncryptRequest
	lastDecReq *kmspb.DecryptRequest
}

// Start starts a Server on a loopback port. Stop it with Stop.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{addr: ln.Addr().String(), gs: grpc.NewServer(), keys: map[string]*cryptoKey{}}
	kmspb.RegisterKeyManagementServiceServer(s.gs, s)
	go func() { _ = s.gs.Serve(ln) }()
	return s, nil
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// Stop closes the listener and every connection, ending calls in progress.
func (s *Server) Stop() { s.gs.Stop() }

// CreateKey creates a CryptoKey with one enabled primary version (named
// NAME/cryptoKeyVersions/1).
func (s *Server) CreateKey(name string) error {
	if !keyNameRE.MatchString(name) {
		return fmt.Errorf("fakekms: bad CryptoKey name %q", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[name]; ok {
		return fmt.Errorf("fakekms: CryptoKey %s already exists", name)
	}
	k := &cryptoKey{}
	if err := k.addVersion(); err != nil {
		return err
	}
	s.keys[name] = k
	return nil
}

func (k *cryptoKey) addVersion() error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	k.versions = append(k.versions, &version{aead: aead})
	k.primary = len(k.versions)
	return nil
}

// RotateKey adds a version to the key and makes it the primary; it returns
// the new version's name.
func (s *Server) RotateKey(name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[name]
	if !ok {
		return "", fmt.Errorf("fakekms: no CryptoKey %s", name)
	}
	if err := k.addVersion(); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s/cryptoKeyVersions/%d", name, k.primary), nil
}

// DisableVersion disables a key version (NAME/cryptoKeyVersions/N).
func (s *Server) DisableVersion(versionName string) error {
	return s.setState(versionName, disabled)
}

// EnableVersion enables a disabled key version.
func (s *Server) EnableVersion(versionName string) error {
	return s.setState(versionName, enabled)
}

// DestroyVersion destroys a key version: its ciphertexts never open again.
func (s *Server) DestroyVersion(versionName string) error {
	return s.setState(versionName, destroyed)
}

func (s *Server) setState(versionName string, st versionState) error {
	m := versionNameRE.FindStringSubmatch(versionName)
	if m == nil {
		return fmt.Errorf("fakekms: bad CryptoKeyVersion name %q", versionName)
	}
	n, _ := strconv.Atoi(m[2])
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[m[1]]
	if !ok || n > len(k.versions) {
		return fmt.Errorf("fakekms: no CryptoKeyVersion %s", versionName)
	}
	v := k.versions[n-1]
	if v.state == destroyed {
		return fmt.Errorf("fakekms: %s is destroyed", versionName)
	}
	v.state = st
	return nil
}

// SetFault corrupts the next n responses of the RPC the fault applies to
// (every one when n < 0). SetFault(NoFault, 0) stops corrupting.
func (s *Server) SetFault(f Fault, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault, s.faultLeft = f, n
}

// FailNext makes the next n calls (every call when n < 0), Encrypt or
// Decrypt, fail with code. FailNext(codes.OK, 0) stops failing.
func (s *Server) FailNext(code codes.Code, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCode, s.failLeft = code, n
}

// Calls returns how many Encrypt and Decrypt calls the server received.
func (s *Server) Calls() (encrypts, decrypts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.encrypts, s.decrypts
}

// LastEncryptRequest and LastDecryptRequest return the last request of each
// RPC, or nil.
func (s *Server) LastEncryptRequest() *kmspb.EncryptRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastEncReq
}

// LastDecryptRequest returns the last Decrypt request, or nil.
func (s *Server) LastDecryptRequest() *kmspb.DecryptRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastDecReq
}

// injected returns the status to fail a call with, if any. s.mu is held.
func (s *Server) injected() error {
	if s.failLeft == 0 || s.failCode == codes.OK {
		return nil
	}
	if s.failLeft > 0 {
		s.failLeft--
	}
	return status.Errorf(s.failCode, "fakekms: injected %s", s.failCode)
}

// takeFault returns the fault to apply to this response of an RPC, if any.
// s.mu is held.
func (s *Server) takeFault(decrypt bool) Fault {
	if s.fault == NoFault || s.faultLeft == 0 || (s.fault >= firstDecryptFault) != decrypt {
		return NoFault
	}
	if s.faultLeft > 0 {
		s.faultLeft--
	}
	return s.fault
}

// checksumError checks an optional request checksum.
func checksumError(data []byte, sum *wrapperspb.Int64Value, sumField, dataField string) error {
	if sum != nil && sum.GetValue() != crc(data) {
		return status.Errorf(codes.InvalidArgument, checksumMismatchMessage, sumField, dataField)
	}
	return nil
}

// Ciphertext layout: version number (4 bytes, big endian), GCM nonce,
// sealed plaintext and tag.
const headerLen = 4

// Encrypt implements kmspb.KeyManagementServiceServer.
func (s *Server) Encrypt(_ context.Context, req *kmspb.EncryptRequest) (*kmspb.EncryptResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.encrypts++
	s.lastEncReq = req
	if err := s.injected(); err != nil {
		return nil, err
	}
	keyName, n := req.GetName(), 0
	if m := versionNameRE.FindStringSubmatch(keyName); m != nil {
		keyName = m[1]
		n, _ = strconv.Atoi(m[2])
	} else if !keyNameRE.MatchString(keyName) {
		return nil, status.Errorf(codes.InvalidArgument, "Resource name [%s] does not represent a valid CryptoKey or CryptoKeyVersion.", req.GetName())
	}
	switch {
	case len(req.GetPlaintext()) == 0:
		return nil, status.Error(codes.InvalidArgument, "plaintext is required.")
	case len(req.GetPlaintext()) > maxPlaintext:
		return nil, status.Errorf(codes.InvalidArgument, "The plaintext must be no larger than %d bytes.", maxPlaintext)
	case len(req.GetAdditionalAuthenticatedData()) > maxAAD:
		return nil, status.Errorf(codes.InvalidArgument, "The additional authenticated data must be no larger than %d bytes.", maxAAD)
	}
	if err := checksumError(req.GetPlaintext(), req.GetPlaintextCrc32C(), "plaintext_crc32c", "plaintext"); err != nil {
		return nil, err
	}
	if err := checksumError(req.GetAdditionalAuthenticatedData(), req.GetAdditionalAuthenticatedDataCrc32C(), "additional_authenticated_data_crc32c", "additional_authenticated_data"); err != nil {
		return nil, err
	}
	k, ok := s.keys[keyName]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "%s not found.", req.GetName())
	}
	if n == 0 {
		n = k.primary
	}
	if n > len(k.versions) {
		return nil, status.Errorf(codes.NotFound, "%s not found.", req.GetName())
	}
	v := k.versions[n-1]
	if v.state != enabled {
		return nil, status.Errorf(codes.FailedPrecondition, "%s/cryptoKeyVersions/%d is not enabled.", keyName, n)
	}

	nonce := make([]byte, v.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, status.Error(codes.Internal, "fakekms: no randomness")
	}
	ct := binary.BigEndian.AppendUint32(nil, uint32(n))
	ct = append(ct, nonce...)
	ct = v.aead.Seal(ct, nonce, req.GetPlaintext(), req.GetAdditionalAuthenticatedData())
	resp := &kmspb.EncryptResponse{
		Name:                    fmt.Sprintf("%s/cryptoKeyVersions/%d", keyName, n),
		Ciphertext:              ct,
		CiphertextCrc32C:        wrapperspb.Int64(crc(ct)),
		VerifiedPlaintextCrc32C: req.GetPlaintextCrc32C() != nil,
		VerifiedAdditionalAuthenticatedDataCrc32C: req.GetAdditionalAuthenticatedDataCrc32C() != nil,
		ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE,
	}
	switch s.takeFault(false) {
	case CiphertextCRCWrong:
		resp.CiphertextCrc32C = wrapperspb.Int64((crc(ct) + 1) & 0xffffffff)
	case CiphertextCRCMissing:
		resp.CiphertextCrc32C = nil
	case PlaintextNotVerified:
		resp.VerifiedPlaintextCrc32C = false
	case AADNotVerified:
		resp.VerifiedAdditionalAuthenticatedDataCrc32C = false
	case CiphertextByteFlipped:
		resp.Ciphertext[len(ct)/2] ^= 0x01
	case OtherKeyVersionName:
		resp.Name = versionNameForeignKey
	case CiphertextEmpty:
		resp.Ciphertext, resp.CiphertextCrc32C = nil, wrapperspb.Int64(crc(nil))
	}
	return resp, nil
}

// Decrypt implements kmspb.KeyManagementServiceServer.
func (s *Server) Decrypt(_ context.Context, req *kmspb.DecryptRequest) (*kmspb.DecryptResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.decrypts++
	s.lastDecReq = req
	if err := s.injected(); err != nil {
		return nil, err
	}
	if !keyNameRE.MatchString(req.GetName()) {
		return nil, status.Errorf(codes.InvalidArgument, "Resource name [%s] does not represent a valid CryptoKey.", req.GetName())
	}
	if len(req.GetCiphertext()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "ciphertext is required.")
	}
	if err := checksumError(req.GetCiphertext(), req.GetCiphertextCrc32C(), "ciphertext_crc32c", "ciphertext"); err != nil {
		return nil, err
	}
	if err := checksumError(req.GetAdditionalAuthenticatedData(), req.GetAdditionalAuthenticatedDataCrc32C(), "additional_authenticated_data_crc32c", "additional_authenticated_data"); err != nil {
		return nil, err
	}
	k, ok := s.keys[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "%s not found.", req.GetName())
	}
	ct := req.GetCiphertext()
	if len(ct) < headerLen {
		return nil, status.Error(codes.InvalidArgument, decryptFailedMessage)
	}
	n := binary.BigEndian.Uint32(ct)
	if n == 0 || n > uint32(len(k.versions)) {
		return nil, status.Error(codes.InvalidArgument, decryptFailedMessage)
	}
	v := k.versions[n-1]
	switch v.state {
	case disabled:
		return nil, status.Errorf(codes.FailedPrecondition, "%s/cryptoKeyVersions/%d is not enabled.", req.GetName(), n)
	case destroyed:
		return nil, status.Errorf(codes.FailedPrecondition, "%s/cryptoKeyVersions/%d is destroyed.", req.GetName(), n)
	}
	ns := v.aead.NonceSize()
	if len(ct) < headerLen+ns+v.aead.Overhead() {
		return nil, status.Error(codes.InvalidArgument, decryptFailedMessage)
	}
	pt, err := v.aead.Open(nil, ct[headerLen:headerLen+ns], ct[headerLen+ns:], req.GetAdditionalAuthenticatedData())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, decryptFailedMessage)
	}
	resp := &kmspb.DecryptResponse{
		Plaintext:       pt,
		PlaintextCrc32C: wrapperspb.Int64(crc(pt)),
		UsedPrimary:     int(n) == k.primary,
		ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE,
	}
	switch s.takeFault(true) {
	case PlaintextCRCWrong:
		resp.PlaintextCrc32C = wrapperspb.Int64((crc(pt) + 1) & 0xffffffff)
	case PlaintextCRCMissing:
		resp.PlaintextCrc32C = nil
	case PlaintextByteFlipped:
		resp.Plaintext[len(pt)/2] ^= 0x01
	case PlaintextEmptyWithCRC:
		resp.Plaintext, resp.PlaintextCrc32C = nil, wrapperspb.Int64(crc(nil))
	}
	return resp, nil
}

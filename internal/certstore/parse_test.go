package certstore

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/certstore/certtest"
)

var testNow = time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)

// fixture is a valid identity and the CA that issued it.
type fixture struct {
	ca   *certtest.CA
	leaf *certtest.Leaf
	root *certtest.CA // stands in for Amazon Root CA 1
}

func newFixture(t *testing.T, kt certtest.KeyType) fixture {
	t.Helper()
	ca := certtest.NewCAWithValidity("device CA", testNow.AddDate(-1, 0, 0), testNow.AddDate(5, 0, 0))
	root := certtest.NewCAWithValidity("test root", testNow.AddDate(-1, 0, 0), testNow.AddDate(10, 0, 0))
	leaf := ca.Issue("sensor-0042", kt, testNow.Add(-time.Hour), testNow.AddDate(1, 0, 0))
	return fixture{ca: ca, leaf: leaf, root: root}
}

func (f fixture) files() Files {
	return Files{Cert: f.leaf.CertPEM, Key: f.leaf.KeyPEM, CA: f.root.CertPEM}
}

// keyBody returns a line of base64 from inside a PEM key, to search errors
// for leaked key material.
func keyBody(keyPEM []byte) string {
	lines := strings.Split(string(keyPEM), "\n")
	return lines[2]
}

func TestParseAccepts(t *testing.T) {
	rsaF := newFixture(t, certtest.RSA2048)
	ecF := newFixture(t, certtest.ECP256)
	p384 := newFixture(t, certtest.ECP384)
	p521 := newFixture(t, certtest.ECP521)
	ecParams := append([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"), ecF.leaf.KeyPEM...)
	crlf := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) }

	tests := []struct {
		name string
		fx   fixture
		mod  func(f *Files)
	}{
		{"rsa pkcs1", rsaF, func(*Files) {}},
		{"rsa pkcs8", rsaF, func(f *Files) { f.Key = rsaF.leaf.KeyPEMAs(certtest.PKCS8) }},
		{"ec sec1", ecF, func(*Files) {}},
		{"ec pkcs8", ecF, func(f *Files) { f.Key = ecF.leaf.KeyPEMAs(certtest.PKCS8) }},
		{"ec p384", p384, func(*Files) {}},
		{"ec p521", p521, func(*Files) {}},
		{"ec parameters before key", ecF, func(f *Files) { f.Key = ecParams }},
		{"crlf everywhere", ecF, func(f *Files) { f.Cert, f.Key, f.CA = crlf(f.Cert), crlf(f.Key), crlf(f.CA) }},
		{"utf-8 bom", ecF, func(f *Files) { f.Cert = append([]byte("\xef\xbb\xbf"), f.Cert...) }},
		{"no final newline", ecF, func(f *Files) { f.Cert, f.Key = bytes.TrimRight(f.Cert, "\n"), bytes.TrimRight(f.Key, "\n") }},
		{"chain after leaf", ecF, func(f *Files) { f.Cert = append(append([]byte{}, f.Cert...), ecF.ca.CertPEM...) }},
		{"several CAs", ecF, func(f *Files) { f.CA = append(append([]byte{}, f.CA...), ecF.ca.CertPEM...) }},
		{"amazon roots", ecF, func(f *Files) { f.CA = DefaultRootsPEM() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.fx.files()
			tt.mod(&f)
			id, err := Parse(f, testNow)
			if err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if !id.Leaf.Equal(tt.fx.leaf.Cert) {
				t.Errorf("got leaf %s, want %s", id.Leaf.Subject, tt.fx.leaf.Cert.Subject)
			}
			if got, want := id.NotAfter, tt.fx.leaf.Cert.NotAfter; !got.Equal(want) {
				t.Errorf("NotAfter: got %v, want %v", got, want)
			}
			if len(id.Fingerprint) != 64 {
				t.Errorf("fingerprint: got %q, want 64 hex digits", id.Fingerprint)
			}
		})
	}
}

func TestParseChainKeptInTLSCertificate(t *testing.T) {
	fx := newFixture(t, certtest.ECP256)
	f := fx.files()
	f.Cert = append(append([]byte{}, f.Cert...), fx.ca.CertPEM...)

	id, err := Parse(f, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(id.TLS.Certificate), 2; got != want {
		t.Errorf("got %d certificates in the TLS chain, want %d", got, want)
	}
}

func TestParseRejects(t *testing.T) {
	fx := newFixture(t, certtest.ECP256)
	other := newFixture(t, certtest.ECP256)
	rsaF := newFixture(t, certtest.RSA2048)
	expired := fx.ca.Issue("old", certtest.ECP256, testNow.AddDate(-2, 0, 0), testNow.AddDate(-1, 0, 0))
	future := fx.ca.Issue("new", certtest.ECP256, testNow.Add(time.Hour), testNow.AddDate(1, 0, 0))
	oldRoot := certtest.NewCAWithValidity("old root", testNow.AddDate(-20, 0, 0), testNow.AddDate(-1, 0, 0))
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)
	edPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER})
	legacyEnc := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00112233445566778899AABBCCDDEEFF"},
		Bytes:   bytes.Repeat([]byte{7}, 64)})
	pkcs8Enc := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: bytes.Repeat([]byte{7}, 64)})
	truncatedKey := fx.leaf.KeyPEM[:len(fx.leaf.KeyPEM)/2]
	damagedKey := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{0x30, 1, 2, 3}})
	rsa1024 := fx.ca.Issue("weak", certtest.RSA1024, testNow.Add(-time.Hour), testNow.AddDate(1, 0, 0))
	p224 := fx.ca.Issue("p224", certtest.ECP224, testNow.Add(-time.Hour), testNow.AddDate(1, 0, 0))

	tests := []struct {
		name     string
		mod      func(f *Files)
		wantFile string
		want     string
		wantIs   error
	}{
		{"empty cert", func(f *Files) { f.Cert = nil }, CertFile, "file is empty", nil},
		{"garbage cert", func(f *Files) { f.Cert = []byte("hello\n") }, CertFile, "no PEM block", nil},
		{"der cert", func(f *Files) { f.Cert = fx.leaf.Cert.Raw }, CertFile, "binary DER", nil},
		{"damaged cert", func(f *Files) {
			f.Cert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 3, 1, 2, 3}})
		}, CertFile, "not a valid certificate", nil},
		{"key in cert file", func(f *Files) { f.Cert = fx.leaf.KeyPEM }, CertFile, "holds a private key", nil},
		{"cert in key file", func(f *Files) { f.Key = fx.leaf.CertPEM }, KeyFile, "holds a certificate", nil},
		{"truncated key", func(f *Files) { f.Key = truncatedKey }, KeyFile, "no PEM block", nil},
		{"damaged key", func(f *Files) { f.Key = damagedKey }, KeyFile, "not a valid RSA or EC key", nil},
		{"legacy encrypted key", func(f *Files) { f.Key = legacyEnc }, KeyFile, "passphrase", ErrEncryptedKey},
		{"pkcs8 encrypted key", func(f *Files) { f.Key = pkcs8Enc }, KeyFile, "passphrase", ErrEncryptedKey},
		{"ed25519 key", func(f *Files) { f.Key = edPEM }, KeyFile, "RSA or EC", nil},
		{"rsa 1024", func(f *Files) { f.Cert, f.Key = rsa1024.CertPEM, rsa1024.KeyPEM }, KeyFile, "RSA key has 1024 bits; AWS IoT requires at least 2048", nil},
		{"rsa 1024 pkcs8", func(f *Files) { f.Cert, f.Key = rsa1024.CertPEM, rsa1024.KeyPEMAs(certtest.PKCS8) }, KeyFile, "1024 bits", nil},
		{"ec p224", func(f *Files) { f.Cert, f.Key = p224.CertPEM, p224.KeyPEM }, KeyFile, "curve P-224 (224 bits); AWS IoT accepts only P-256, P-384 and P-521", nil},
		{"mismatched key", func(f *Files) { f.Key = other.leaf.KeyPEM }, KeyFile, "install the key that was created with this certificate", ErrKeyMismatch},
		{"rsa key for ec cert", func(f *Files) { f.Key = rsaF.leaf.KeyPEM }, KeyFile, "public keys differ", ErrKeyMismatch},
		{"expired", func(f *Files) { f.Cert, f.Key = expired.CertPEM, expired.KeyPEM }, CertFile, "device clock is 2026-08-01T12:00:00Z", ErrExpired},
		{"expired gives dates", func(f *Files) { f.Cert, f.Key = expired.CertPEM, expired.KeyPEM }, CertFile, "valid from 2024-08-01T12:00:00Z until 2025-08-01T12:00:00Z", ErrExpired},
		{"not yet valid", func(f *Files) { f.Cert, f.Key = future.CertPEM, future.KeyPEM }, CertFile, "set the device clock", ErrNotYetValid},
		{"empty CA", func(f *Files) { f.CA = []byte("  \n") }, CAFile, "file is empty", nil},
		{"CA is the device cert", func(f *Files) { f.CA = fx.leaf.CertPEM }, CAFile, "not a CA certificate", nil},
		{"CA expired", func(f *Files) { f.CA = oldRoot.CertPEM }, CAFile, "use a current root CA", nil},
		{"CA garbage", func(f *Files) { f.CA = []byte("<html>AccessDenied</html>") }, CAFile, "no PEM block", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fx.files()
			tt.mod(&f)
			_, err := Parse(f, testNow)
			if err == nil {
				t.Fatal("got no error, want one")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.wantFile+":") {
				t.Errorf("got %q, want it to start with the file name %q", msg, tt.wantFile)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("got %q, want it to contain %q", msg, tt.want)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("got %v, want errors.Is %v", err, tt.wantIs)
			}
			for _, k := range [][]byte{fx.leaf.KeyPEM, other.leaf.KeyPEM, rsaF.leaf.KeyPEM} {
				if strings.Contains(msg, keyBody(k)) {
					t.Errorf("error contains key material: %q", msg)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error has several lines: %q", msg)
			}
		})
	}
}

func TestDefaultRoots(t *testing.T) {
	want := map[string]string{
		"Amazon Root CA 1": "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e",
		"Amazon Root CA 3": "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4",
	}
	id, err := parseCA(DefaultRootsPEM(), CAFile, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if id == nil || DefaultRoots() == nil {
		t.Fatal("got nil pool")
	}
	rest := DefaultRootsPEM()
	got := map[string]string{}
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		got[c.Subject.CommonName] = newIdentity([]*x509.Certificate{c}, nil, nil).Fingerprint
	}
	for cn, fp := range want {
		if got[cn] != fp {
			t.Errorf("%s: got fingerprint %q, want %q", cn, got[cn], fp)
		}
	}
}

// Package certtest issues throwaway certificates for tests: a CA, device
// certificates with RSA or EC keys in PKCS#1, SEC 1 or PKCS#8 form, and
// server certificates for httptest TLS servers. Nothing here is for
// production use; keys are generated fresh and never stored.
//
// Functions panic when key generation or signing fails, which happens only
// when crypto/rand fails, so that tests can call them inline.
package certtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"time"
)

// KeyType selects the algorithm and size of a generated key.
type KeyType string

// Key types that AWS IoT accepts for device certificates.
const (
	RSA2048 KeyType = "rsa2048"
	ECP256  KeyType = "ec-p256"
	ECP384  KeyType = "ec-p384"
	ECP521  KeyType = "ec-p521"
)

// Key types that AWS IoT refuses, for tests of that refusal.
const (
	RSA1024 KeyType = "rsa1024"
	ECP224  KeyType = "ec-p224"
)

// Encoding selects the PEM form of a private key.
type Encoding string

// Private key encodings.
const (
	PKCS1 Encoding = "pkcs1" // "RSA PRIVATE KEY", RSA only
	SEC1  Encoding = "sec1"  // "EC PRIVATE KEY", EC only
	PKCS8 Encoding = "pkcs8" // "PRIVATE KEY", RSA or EC
)

// CA is a throwaway certificate authority.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
}

// Leaf is a certificate issued by a [CA] with its private key.
type Leaf struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// CertPEM is the certificate alone; append CA.CertPEM for a chain.
	CertPEM []byte
	// KeyPEM is the key in its usual form: PKCS#1 for RSA, SEC 1 for EC.
	KeyPEM []byte
}

// NewCA returns a self-signed EC P-256 CA named cn, valid from an hour ago
// for ten years.
func NewCA(cn string) *CA {
	now := time.Now()
	return NewCAWithValidity(cn, now.Add(-time.Hour), now.AddDate(10, 0, 0))
}

// NewCAWithValidity returns a self-signed EC P-256 CA named cn, valid from
// notBefore to notAfter.
func NewCAWithValidity(cn string, notBefore, notAfter time.Time) *CA {
	key := NewKey(ECP256)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"edge-agent test"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	cert, certPEM := sign(tmpl, tmpl, key.Public(), key)
	return &CA{Cert: cert, Key: key, CertPEM: certPEM}
}

// Issue returns a client (device) certificate for cn with a fresh key of
// type kt, valid from notBefore to notAfter.
func (ca *CA) Issue(cn string, kt KeyType, notBefore, notAfter time.Time) *Leaf {
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.issue(tmpl, kt)
}

// IssueServer returns a server certificate valid for an hour either side of
// now, for the given DNS names and IP addresses (such as "127.0.0.1").
func (ca *CA) IssueServer(names ...string) *Leaf {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	return ca.issue(tmpl, ECP256)
}

// Pool returns a certificate pool that holds only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

func (ca *CA) issue(tmpl *x509.Certificate, kt KeyType) *Leaf {
	key := NewKey(kt)
	cert, certPEM := sign(tmpl, ca.Cert, key.Public(), ca.Key)
	enc := SEC1
	if _, isRSA := key.(*rsa.PrivateKey); isRSA {
		enc = PKCS1
	}
	return &Leaf{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: EncodeKey(key, enc)}
}

// KeyPEMAs returns the leaf's key in the given encoding.
func (l *Leaf) KeyPEMAs(enc Encoding) []byte {
	return EncodeKey(l.Key, enc)
}

// NewKey generates a key of type kt.
func NewKey(kt KeyType) crypto.Signer {
	var (
		key crypto.Signer
		err error
	)
	switch kt {
	case RSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case RSA1024:
		key, err = rsa.GenerateKey(rand.Reader, 1024)
	case ECP384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case ECP521:
		key, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case ECP224:
		key, err = ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	default:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		panic("certtest: generate key: " + err.Error())
	}
	return key
}

// EncodeKey returns key as PEM in the given encoding. It panics when the
// encoding does not fit the key (PKCS#1 for an EC key, SEC 1 for RSA).
func EncodeKey(key crypto.Signer, enc Encoding) []byte {
	var (
		der   []byte
		err   error
		ptype string
	)
	switch enc {
	case PKCS1:
		der, ptype = x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey)), "RSA PRIVATE KEY"
	case SEC1:
		der, err = x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
		ptype = "EC PRIVATE KEY"
	default:
		der, err = x509.MarshalPKCS8PrivateKey(key)
		ptype = "PRIVATE KEY"
	}
	if err != nil {
		panic("certtest: encode key: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: ptype, Bytes: der})
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, []byte) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		panic("certtest: create certificate: " + err.Error())
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic("certtest: parse certificate: " + err.Error())
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("certtest: serial: " + err.Error())
	}
	return n
}

package sandbox

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestNewDevice(t *testing.T) {
	sb, clock := startSandbox(t, Options{DeviceValidity: 48 * time.Hour})
	ctx := context.Background()

	tests := []struct {
		name    string
		opts    DeviceOptions
		wantKey any
	}{
		{"ecdsa", DeviceOptions{Thing: "sensor-1", RoleAlias: testAlias}, &ecdsa.PrivateKey{}},
		{"rsa", DeviceOptions{Thing: "sensor-2", RoleAlias: testAlias, KeyType: KeyRSA}, &rsa.PrivateKey{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := sb.NewDeviceWith(ctx, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			pair, err := tls.X509KeyPair(files.Cert, files.Key)
			if err != nil {
				t.Fatalf("certificate and key do not match: %v", err)
			}
			if got, want := typeName(pair.PrivateKey), typeName(tt.wantKey); got != want {
				t.Errorf("key type = %s, want %s", got, want)
			}
			leaf, _ := x509.ParseCertificate(pair.Certificate[0])
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: poolOf(t, files.CA), CurrentTime: clock.Now(),
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("certificate does not chain to the CA: %v", err)
			}
			if got, want := leaf.NotAfter.Sub(leaf.NotBefore), 48*time.Hour; got != want {
				t.Errorf("validity = %v, want %v", got, want)
			}
			checkRegistered(t, sb, files.Cert, tt.opts.Thing)
		})
	}

	sb.State.Do(func(s *State) {
		if got, want := len(s.Policies), 1; got != want {
			t.Errorf("%d policies, want %d (one per role alias)", got, want)
		}
	})
}

func typeName(v any) string {
	switch v.(type) {
	case *ecdsa.PrivateKey:
		return "ecdsa"
	case *rsa.PrivateKey:
		return "rsa"
	}
	return "other"
}

func checkRegistered(t *testing.T, sb *Sandbox, certPEM []byte, thing string) {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	sum := sha256.Sum256(block.Bytes)
	wantID := hex.EncodeToString(sum[:])
	id, err := CertificateID(certPEM)
	if err != nil || id != wantID {
		t.Errorf("CertificateID = %q, %v, want %q", id, err, wantID)
	}
	sb.State.Do(func(s *State) {
		c, ok := s.Certificates[wantID]
		if !ok {
			t.Fatalf("certificate %s not registered", wantID)
		}
		if c.Status != "ACTIVE" || !contains(c.Things, thing) || !contains(c.Policies, PolicyName(testAlias)) {
			t.Errorf("certificate = %+v, want ACTIVE with thing %s and policy %s", c, thing, PolicyName(testAlias))
		}
		if th, ok := s.Things[thing]; !ok || th.ARN != s.ARN("iot", "thing/"+thing) {
			t.Errorf("thing %s = %+v", thing, th)
		}
	})
}

func TestSetCertificateStatus(t *testing.T) {
	sb, client := deviceClient(t)
	var id string
	sb.State.Do(func(s *State) {
		for k := range s.Certificates {
			id = k
		}
	})

	for _, step := range []struct {
		status string
		want   int
	}{{"INACTIVE", 403}, {"ACTIVE", 200}, {"REVOKED", 403}} {
		if err := sb.SetCertificateStatus(id, step.status); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, client, sb.CredentialsEndpoint, testAlias, "sensor-1").status; got != step.want {
			t.Errorf("after %s: status = %d, want %d", step.status, got, step.want)
		}
	}
	if err := sb.SetCertificateStatus("nope", "ACTIVE"); err == nil {
		t.Error("SetCertificateStatus of an unknown certificate succeeded")
	}
}

func TestSignCSR(t *testing.T) {
	sb, _ := startSandbox(t, Options{})
	sb.AddRoleAlias(testAlias, testRole, 0)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "sensor-9"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})

	certPEM, err := sb.Authority.SignCSR(csr, sb.Now().Add(-time.Hour), sb.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.RegisterCertificate(certPEM, ""); err != nil {
		t.Fatal(err)
	}
	if err := sb.attachDevice(certPEM, "sensor-9", testAlias); err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	files := DeviceFiles{Cert: certPEM, Key: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), CA: sb.CA}
	if got := mustGet(t, mtlsClient(t, files), sb.CredentialsEndpoint, testAlias, "sensor-9").status; got != http.StatusOK {
		t.Errorf("status = %d, want 200", got)
	}

	if _, err := sb.Authority.SignCSR([]byte("not a csr"), time.Now(), time.Now()); err == nil {
		t.Error("SignCSR of garbage succeeded")
	}
}

func TestAgentConfig(t *testing.T) {
	sb, _ := startSandbox(t, Options{Region: "eu-west-1"})
	var got struct {
		ThingName           string `yaml:"thing_name"`
		RoleAlias           string `yaml:"role_alias"`
		CredentialEndpoint  string `yaml:"credential_endpoint"`
		Region              string `yaml:"region"`
		AllowCustomEndpoint bool   `yaml:"allow_custom_endpoint"`
	}
	if err := yaml.Unmarshal(sb.AgentConfig("sensor-1", testAlias), &got); err != nil {
		t.Fatal(err)
	}
	if got.ThingName != "sensor-1" || got.RoleAlias != testAlias || got.CredentialEndpoint != sb.CredentialsEndpoint ||
		got.Region != "eu-west-1" || !got.AllowCustomEndpoint {
		t.Errorf("AgentConfig = %+v", got)
	}
}

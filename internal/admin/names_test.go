package admin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

func TestNamesAreValidatedWithTheRuleAndTheCharacter(t *testing.T) {
	tests := []struct {
		name     string
		check    func() error
		wantPart string // "" means valid
	}{
		{"fleet ok", func() error { return ValidateFleetName("fleet-a1") }, ""},
		{"fleet underscore", func() error { return ValidateFleetName("fleet_a") }, `character '_' at position 6`},
		{"fleet leading hyphen", func() error { return ValidateFleetName("-a") }, `character '-' at position 1`},
		{"fleet trailing hyphen", func() error { return ValidateFleetName("a-") }, `character '-' at position 2`},
		{"fleet too long", func() error { return ValidateFleetName(strings.Repeat("a", 64)) }, "64 characters"},
		{"device dot", func() error { return ValidateDeviceName("dev.1") }, `character '.' at position 4`},
		{"device empty", func() error { return ValidateDeviceName("") }, "must not be empty"},
		{"thing ok", func() error { return ValidateThingName("thing name", "a:b_c-d") }, ""},
		{"thing space", func() error { return ValidateThingName("thing name", "a b") }, `character ' ' at position 2`},
		{"bucket ok", func() error { return ValidateBucketName("my.bucket-1") }, ""},
		{"bucket upper", func() error { return ValidateBucketName("MyBucket") }, `character 'M' at position 1`},
		{"bucket double dot", func() error { return ValidateBucketName("a..b") }, `character '.' at position 3`},
		{"bucket ip", func() error { return ValidateBucketName("10.0.0.1") }, "not an IP address"},
		{"role ok", func() error { return ValidateRoleARN("arn:aws:iam::123456789012:role/edge/r1") }, ""},
		{"role not iam", func() error { return ValidateRoleARN("arn:aws:iot::123456789012:role/r") }, `character 'o' at position 10`},
		{"s3 uri", func() error { _, _, err := ParseS3URI("https://b/p"); return err }, "must start with s3://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check()
			if tt.wantPart == "" {
				if err != nil {
					t.Errorf("got %v, want nil", err)
				}
				return
			}
			var ne *NameError
			if !errors.As(err, &ne) || !strings.Contains(err.Error(), tt.wantPart) {
				t.Errorf("got %v, want a NameError containing %q", err, tt.wantPart)
			}
		})
	}
}

func TestParseManifest(t *testing.T) {
	tests := []struct {
		name, csv, wantErr string
		wantN              int
	}{
		{"ok", "device,thing,thing_type\nd1,t1,tt\nd2,,\n", "", 2},
		{"no device column", "thing\nt1\n", "no device column", 0},
		{"bad device", "device\nd1\nd_2\n", "manifest line 3: device name", 0},
		{"duplicate", "device\nd1\nd1\n", "already on line 2", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseManifest(strings.NewReader(tt.csv))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != tt.wantN {
				t.Errorf("got %d entries, %v; want %d", len(got), err, tt.wantN)
			}
		})
	}
}

func TestPolicyRefusal(t *testing.T) {
	alias := "arn:aws:iot:us-east-1:123456789012:rolealias/A"
	tests := []struct {
		name, doc string
		want      string // "" when allowed, else a part of the reason
	}{
		{"exact", PolicyDocument(alias), ""},
		{"wildcards", `{"Statement":[{"Effect":"Allow","Action":["iot:*"],"Resource":"arn:aws:iot:*:*:rolealias/*"}]}`, ""},
		{"other action", `{"Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}}`, "does not allow iot:AssumeRoleWithCertificate on " + alias},
		{"deny wins", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"iot:AssumeRoleWithCertificate","Resource":"*"}]}`, "a Deny statement"},
		{"other alias", PolicyDocument(alias + "B"), "does not allow"},
		{"not a policy", `allow all`, "cannot be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := policyRefusal(tt.doc, alias)
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want %q", got, firstOf(tt.want, "no refusal"))
			}
		})
	}
}

// testCSR returns a PEM CSR for a fresh key, as a device makes one.
func testCSR(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev-1"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}
